import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _


def raise_violations(violations):
    """Raise one ValidationError keyed by field for a list of rule violations."""
    if not violations:
        return
    errors = {}
    for v in violations:
        errors.setdefault(v.field, []).append(ValidationError(v.message, code=v.code))
    raise ValidationError(errors)


# --- Text hygiene ---------------------------------------------------------------------
# Identifiers and codes are ASCII: a subject id written with other digits (fullwidth
# "００4", Arabic-Indic "٠٠٢", mathematical bold "𝟎𝟎𝟏") looks like another subject and is
# not found by a search for it. Free text may be in any script, but not with characters
# that are invisible or reorder what a reader sees (a lot number of only U+200B, a note
# whose end is shown first because of U+202E).

#: Zero-width characters (ZERO WIDTH SPACE, NON-JOINER, JOINER, WORD JOINER, BOM).
ZERO_WIDTH_CHARACTERS = frozenset("\u200b\u200c\u200d\u2060\ufeff")
#: Bidirectional controls: ARABIC LETTER MARK, LRM, RLM, embeddings and overrides
#: (U+202A-U+202E), isolates (U+2066-U+2069).
BIDI_CONTROL_CHARACTERS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                                    "\u2066\u2067\u2068\u2069")
#: The only control characters free text may hold, and only where it has several lines.
MULTILINE_WHITESPACE = frozenset("\t\n\r")
#: Line and paragraph separators: a line break that is not a newline.
UNICODE_LINE_SEPARATORS = frozenset("\u2028\u2029")
#: What an identifier or a code (subject id, site code, lot, product) may hold:
#: printable ASCII, no leading or trailing space.
ASCII_CODE_PATTERN = r"\A[!-~](?:[ -~]*[!-~])?\Z"
#: A whole number as typed in a query parameter: ASCII digits only, at most 19 of them.
ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
#: A key typed in a query parameter (an id, a code): printable ASCII, no space.
ASCII_KEY = re.compile(r"[!-~]{1,100}")

TEXT_ERRORS = {
    "zero_width_character": _("Remove the invisible zero-width character %(char)s."),
    "bidi_control_character": _("Remove the invisible text-direction control %(char)s."),
    "control_character": _("Remove the control character %(char)s."),
    "invisible_character": _("Remove the invisible formatting character %(char)s."),
    "noncharacter": _("Remove the character %(char)s: it is not a valid character."),
}


def _is_noncharacter(code_point):
    return 0xFDD0 <= code_point <= 0xFDEF or (code_point & 0xFFFE) == 0xFFFE


def text_problem(value, *, multiline):
    """The code of the first forbidden character in ``value`` and that character
    (``(None, None)`` when the text is clean)."""
    for char in value:
        if char.isprintable() and char not in ZERO_WIDTH_CHARACTERS and not _is_noncharacter(ord(char)):
            continue  # fast path: letters, digits, punctuation, spaces of any script
        if char in ZERO_WIDTH_CHARACTERS:
            return "zero_width_character", char
        if char in BIDI_CONTROL_CHARACTERS:
            return "bidi_control_character", char
        if multiline and char in MULTILINE_WHITESPACE:
            continue
        if _is_noncharacter(ord(char)):
            return "noncharacter", char
        category = unicodedata.category(char)
        if category in ("Cc", "Cs") or char in UNICODE_LINE_SEPARATORS:
            return "control_character", char
        if category == "Cf":
            return "invisible_character", char
        # Other non-printable characters (unassigned, private use, spaces other than
        # U+0020) are visible or at least not misleading: accepted.
    return None, None


def _validate_text(value, *, multiline):
    if not isinstance(value, str):
        return
    code, char = text_problem(value, multiline=multiline)
    if code:
        raise ValidationError(TEXT_ERRORS[code], code=code, params={"char": f"U+{ord(char):04X}"})


def validate_single_line_text(value):
    """Free text on one line (a term, a name): no control character at all."""
    _validate_text(value, multiline=False)


def validate_multiline_text(value):
    """Free text on several lines (notes, reasons, comments): tab, newline and CR allowed."""
    _validate_text(value, multiline=True)


validate_ascii_code = RegexValidator(
    ASCII_CODE_PATTERN,
    _("Use ASCII letters, digits and punctuation only (no accented, fullwidth or invisible "
    "characters, no leading or trailing space)."),
    code="not_ascii",
)


def text_validator_for(field):
    """The hygiene validator of a model or form text field: multi-line for a
    TextField (or a Textarea), single-line otherwise."""
    from django import forms
    from django.db import models

    if isinstance(field, models.TextField) or isinstance(getattr(field, "widget", None), forms.Textarea):
        return validate_multiline_text
    return validate_single_line_text


def text_field_errors(instance, exclude=None):
    """{field name: [ValidationError]} for the text fields of a model instance that
    hold a forbidden character; every CharField and TextField is checked."""
    from django.db import models

    errors = {}
    for field in instance._meta.concrete_fields:
        if not isinstance(field, (models.CharField, models.TextField)):
            continue
        if exclude and field.name in exclude:
            continue
        try:
            text_validator_for(field)(getattr(instance, field.attname))
        except ValidationError as error:
            errors.setdefault(field.name, []).append(error)
    return errors


class CleanTextModel:
    """Mixin of every clinical and oversight model (through their base classes in
    ``core.models``): ``full_clean()`` refuses an invisible or control character in
    any of its text fields, whatever the channel (form, admin, API, import). A new
    field is covered without any declaration."""

    def clean_fields(self, exclude=None):
        errors = {}
        try:
            super().clean_fields(exclude=exclude)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        for name, field_errors in text_field_errors(self, exclude).items():
            if name not in errors:
                errors[name] = field_errors
        if errors:
            raise ValidationError(errors)


def validate_free_text(value, *, field, multiline=True):
    """Check a free text that is not a model field (a reason for change, a query
    message) and raise a ValidationError keyed by ``field``."""
    try:
        (validate_multiline_text if multiline else validate_single_line_text)(value)
    except ValidationError as error:
        raise ValidationError({field: [error]}) from None
