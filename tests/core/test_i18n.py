"""Every user-facing string is translatable and translated (issue 16).

- The French catalogues (``locale/fr/LC_MESSAGES/django.po``, ``djangojs.po``)
  translate every message, none fuzzy; the compiled ``.mo`` files the app reads
  say the same as the ``.po`` files (``make messages`` was run).
- Where GNU gettext is installed, extracting the strings again from the source
  finds nothing the catalogue lacks (a string marked but never translated).
- No template has visible literal text outside the translation tags: a scan of
  each template's text and visible attributes (title, placeholder, aria-label,
  alt, a button's value), with its few exceptions listed below with reasons.
- No Python module gives a user-facing literal that is not marked: model and
  form labels and help texts, choices' labels, validation errors, flash messages.
"""

import ast
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.template.base import Lexer, TokenType

ROOT = Path(settings.BASE_DIR)
LOCALE = ROOT / "locale"
CATALOGUES = ["django", "djangojs"]

# --- The catalogues ------------------------------------------------------------------------


def _po(language, domain):
    path = LOCALE / language / "LC_MESSAGES" / f"{domain}.po"
    return polib.pofile(str(path)) if path.exists() else None


@pytest.mark.parametrize("domain", CATALOGUES)
@pytest.mark.req("URS-DOC-004")
def test_french_catalogue_translates_every_message_none_fuzzy(domain):
    po = _po("fr", domain)
    if po is None:
        assert domain != "django", "locale/fr/LC_MESSAGES/django.po is missing: run make messages"
        pytest.skip(f"no {domain} catalogue")
    assert len(po) > 0
    untranslated = [entry.msgid for entry in po.untranslated_entries() if not entry.obsolete]
    fuzzy = [entry.msgid for entry in po.fuzzy_entries()]
    assert not untranslated, f"{len(untranslated)} message(s) without a French translation: {untranslated[:20]}"
    assert not fuzzy, f"{len(fuzzy)} fuzzy message(s) (check and remove the fuzzy flag): {fuzzy[:20]}"


def _placeholders(text):
    return sorted(re.findall(r"%\(\w+\)[sdfr]|%[sdfr]|\{\w*\}", text))


@pytest.mark.parametrize("domain", CATALOGUES)
@pytest.mark.req("URS-DOC-004")
def test_french_translations_keep_the_placeholders(domain):
    """A translation that drops or renames "%(name)s" would fail at run time (or lose the value)."""
    po = _po("fr", domain)
    if po is None:
        pytest.skip(f"no {domain} catalogue")
    wrong = []
    for entry in po.translated_entries():
        if entry.msgid_plural:
            expected = _placeholders(entry.msgid_plural)
            for form in entry.msgstr_plural.values():
                # The singular French form may say "une" instead of "%(count)s".
                if not set(_placeholders(form)) <= set(expected) | set(_placeholders(entry.msgid)):
                    wrong.append(entry.msgid)
        elif _placeholders(entry.msgstr) != _placeholders(entry.msgid):
            wrong.append(entry.msgid)
    assert not wrong, f"translations whose placeholders differ from the source: {wrong[:20]}"


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("domain", CATALOGUES)
@pytest.mark.req("URS-DOC-004")
def test_compiled_catalogue_matches_its_source(language, domain):
    po = _po(language, domain)
    if po is None:
        pytest.skip(f"no {domain} catalogue")
    mo_path = LOCALE / language / "LC_MESSAGES" / f"{domain}.mo"
    assert mo_path.exists(), f"{mo_path} is missing: run make messages"
    mo = polib.mofile(str(mo_path))

    def key(entry):
        return (entry.msgctxt or "", entry.msgid)

    def value(entry):
        return entry.msgstr_plural and tuple(sorted(entry.msgstr_plural.items())) or entry.msgstr

    expected = {key(e): value(e) for e in po if e.translated() and not e.obsolete and "fuzzy" not in e.flags}
    compiled = {key(e): value(e) for e in mo if e.msgid}
    assert compiled == expected, f"{mo_path} is older than its .po: run make messages"


def _source_copy(tmp_path):
    """The project's source without the venv and the tests, for makemessages."""
    copy = tmp_path / "src"

    def ignore(directory, names):
        return {n for n in names if n in {".venv", ".git", "tests", "staticfiles", "media", "node_modules",
                                          "__pycache__", ".pytest_cache", "bench", "loadtest", "docs"}
                or n.endswith((".sqlite3", ".mo"))}

    shutil.copytree(ROOT, copy, ignore=ignore, symlinks=True)
    return copy


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="GNU gettext is not installed")
def test_catalogue_holds_every_marked_string(tmp_path):
    """Extract the strings again (``make messages`` on a copy): a string marked for
    translation in the source but missing from the committed catalogue fails here."""
    copy = _source_copy(tmp_path)
    for domain in CATALOGUES:
        result = subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "fr", "-d", domain, "--no-location",
             "--no-obsolete", "--ignore=static/vendor", "--ignore=staticfiles"],
            cwd=copy, capture_output=True, text=True, env={"SECRET_KEY": "x", "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        fresh = copy / "locale" / "fr" / "LC_MESSAGES" / f"{domain}.po"
        if not fresh.exists():
            continue
        committed = _po("fr", domain)
        assert committed is not None, f"locale/fr/LC_MESSAGES/{domain}.po is missing: run make messages"
        have = {(e.msgctxt, e.msgid) for e in committed if not e.obsolete}
        extracted = {(e.msgctxt, e.msgid) for e in polib.pofile(str(fresh)) if not e.obsolete}
        missing = sorted(extracted - have, key=str)
        assert not missing, (f"{len(missing)} marked string(s) not in locale/fr/LC_MESSAGES/{domain}.po "
                             f"(run make messages and translate them): {missing[:20]}")


# --- Templates: no visible literal text outside the translation tags ---------------------------

TEMPLATE_DIRS = [ROOT / "templates"] + sorted(ROOT.glob("*/templates"))

#: Templates left out of the scan, with the reason.
TEMPLATE_EXCEPTIONS = {
    # Third-party API reference page (ReDoc); its own interface is English and the API is
    # language-neutral by design.
    "drf_spectacular/redoc.html": "ReDoc's page for the API reference (language-neutral API)",
    # The validation report (python -m validation): an English quality document for the sponsor's
    # auditor, made from the command line like the management commands' output; not a screen.
    "validation/report.html": "the validation report, an English document for the quality auditor",
}

#: Words that read the same in every language of the study: units and codes.
ALLOWED_WORDS = {
    "kg", "g", "mg", "mL", "ml", "cm", "min", "h", "L", "dL", "U", "IU", "mmHg", "bpm",
    "g/kg", "mL/kg/min", "mL/h", "U/L", "IU/L", "kg/m²",
    "CK", "LDH", "MMT-8", "MMT", "PM", "DM", "CTCAE", "MedDRA", "CDISC", "SDTM", "ODM", "FHIR", "XPT",
    "CSV", "XLSX", "PDF", "JSON", "XML", "SHA-256", "SHA", "API", "URL", "ID", "TOTP", "QR", "iCal",
    "OK", "UTC", "ISO",
}

VISIBLE_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description", "aria-roledescription"}
#: The stand-in for a template tag or variable (never visible text itself).
MARK = "\x00"
WORD = re.compile(r"[^\W\d_][\w'’/.\-²]*", re.UNICODE)


def _strip(tokens):
    """The template with every tag and variable replaced by MARK, the text inside
    blocktranslate and comment blocks dropped."""
    out = []
    skip_until = None
    for token in tokens:
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents.split() else ""
            if skip_until:
                if name == skip_until:
                    skip_until = None
                continue
            if name in ("blocktranslate", "blocktrans"):
                skip_until = "end" + name
            elif name == "comment":
                skip_until = "endcomment"
            out.append(MARK)
        elif token.token_type in (TokenType.VAR, TokenType.COMMENT):
            if not skip_until:
                out.append(MARK)
        elif not skip_until:
            out.append(token.contents)
    return "".join(out)


def _visible_words(text):
    text = text.replace(MARK, " ")
    words = []
    for word in WORD.findall(text):
        bare = word.strip(".-/’'")
        if bare and bare not in ALLOWED_WORDS and any(c.isalpha() for c in bare):
            words.append(bare)
    return words


class _Scanner(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found = []
        self.raw = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.raw += 1
        for name, value in attrs:
            visible = name in VISIBLE_ATTRIBUTES or (
                name == "value" and tag == "input" and dict(attrs).get("type") in ("submit", "button"))
            if visible and value and _visible_words(value):
                self.found.append(f'{tag} {name}="{value.replace(MARK, "{…}")}"')

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.raw:
            self.raw -= 1

    def handle_data(self, data):
        if not self.raw and _visible_words(data):
            self.found.append(data.replace(MARK, "{…}").strip())


def _templates():
    for base in TEMPLATE_DIRS:
        for path in sorted(base.rglob("*.html")) + sorted(base.rglob("*.txt")):
            name = path.relative_to(base).as_posix()
            yield pytest.param(path, name, id=name)


@pytest.mark.parametrize("path,name", list(_templates()))
@pytest.mark.req("URS-DOC-004")
def test_template_has_no_literal_text_outside_translation_tags(path, name):
    if name in TEMPLATE_EXCEPTIONS:
        pytest.skip(TEMPLATE_EXCEPTIONS[name])
    source = path.read_text(encoding="utf-8")
    stripped = _strip(Lexer(source).tokenize())
    scanner = _Scanner()
    scanner.feed(stripped)
    scanner.close()
    assert not scanner.found, f"{name}: visible text outside {{% translate %}}: {scanner.found[:15]}"


# --- Python: user-facing literals are marked ------------------------------------------------

APPS = ["accounts", "api", "core", "editchecks", "exchange", "jobs", "notifications", "oversight", "patients",
        "reporting", "review", "safety", "visits", "ivigtrial"]
#: Directories whose text is not a user's screen: database migrations (frozen labels),
#: management commands (an operator's console, like Django's own commands).
SKIPPED_DIRS = {"migrations", "management", "__pycache__"}
MARKERS = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy",
           "npgettext", "npgettext_lazy", "format_lazy", "gettext_noop"}
LABEL_KEYWORDS = {"verbose_name", "verbose_name_plural", "help_text", "label", "empty_label", "empty_value_display"}
MESSAGE_FUNCTIONS = {"debug", "info", "success", "warning", "error"}
ERROR_CLASSES = {"ValidationError"}


def _is_literal(node):
    """A str literal, an f-string, or a literal formatted with % or .format()."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(c.isalpha() for c in node.value)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _is_literal(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _is_literal(node.func.value)
    return False


def _name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _unmarked(tree):
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _name(node.func)
            if name in MARKERS:
                continue
            for keyword in node.keywords:
                if keyword.arg in LABEL_KEYWORDS and _is_literal(keyword.value):
                    found.append((node.lineno, f"{keyword.arg}="))
            if name in ERROR_CLASSES and node.args:
                message = node.args[0]
                if _is_literal(message) or (isinstance(message, ast.Dict)
                                            and any(_is_literal(v) for v in message.values)):
                    found.append((node.lineno, name))
            if name == "add_error" and len(node.args) >= 2 and _is_literal(node.args[1]):
                found.append((node.lineno, "add_error"))
            for keyword in node.keywords:
                if keyword.arg == "error_messages" and isinstance(keyword.value, ast.Dict) \
                        and any(_is_literal(v) for v in keyword.value.values):
                    found.append((node.lineno, "error_messages="))
            if (name in MESSAGE_FUNCTIONS and isinstance(node.func, ast.Attribute)
                    and _name(node.func.value) == "messages" and len(node.args) >= 2
                    and _is_literal(node.args[1])):
                found.append((node.lineno, f"messages.{name}"))
        elif isinstance(node, ast.ClassDef) and any(_name(b) in ("TextChoices", "IntegerChoices", "Choices")
                                                     for b in node.bases):
            for item in node.body:
                if isinstance(item, ast.Assign) and isinstance(item.value, ast.Tuple) and item.value.elts \
                        and _is_literal(item.value.elts[-1]):
                    found.append((item.lineno, f"choice {node.name}.{_name(item.targets[0])}"))
        elif isinstance(node, ast.keyword) and node.arg == "choices" and isinstance(node.value, (ast.List, ast.Tuple)):
            for element in node.value.elts:
                if isinstance(element, ast.Tuple) and len(element.elts) == 2 and _is_literal(element.elts[1]):
                    found.append((element.lineno, "choices=[...]"))
    return found


def _modules(app):
    for path in sorted((ROOT / app).rglob("*.py")):
        if SKIPPED_DIRS & set(path.relative_to(ROOT).parts):
            continue
        yield path


@pytest.mark.parametrize("app", APPS)
def test_python_user_facing_literals_are_marked(app):
    offenders = []
    for path in _modules(app):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offenders += [f"{path.relative_to(ROOT)}:{line} {what}" for line, what in _unmarked(tree)]
    assert not offenders, f"{len(offenders)} unmarked user-facing string(s): {offenders[:25]}"


@pytest.mark.parametrize("domain", CATALOGUES)
def test_catalogue_plural_forms_are_french(domain):
    po = _po("fr", domain)
    if po is None:
        pytest.skip(f"no {domain} catalogue")
    assert "nplurals=2; plural=(n > 1)" in po.metadata.get("Plural-Forms", "")
