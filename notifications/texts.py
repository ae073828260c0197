"""The words of a notice, written from its kind and its parameters in the active language.

A notice stores its parameters (``Notice.params``: codes, ISO dates, subject ids, the
event's own words) and, as its record, its subject and body in the source language
(rendered here under :func:`accounts.languages.neutral`). The e-mail is rendered again in
the recipient's language when it is sent (:mod:`notifications.delivery`), the in-app list
in the reader's language when it is shown: one function for all three, no query.

Dates follow the language's formats (dd/mm/yyyy in French, ISO in English); times are
the site's local times with the zone named.
"""

from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.languages import neutral

from .rules import STAGE_LATE, Kind

SUBJECT_MAX = 200


def _date(iso):
    return formats.date_format(date.fromisoformat(iso), "SHORT_DATE_FORMAT") if iso else "—"


def _local(iso, zone):
    """An instant (ISO) as the site's local date and time, with the zone named."""
    if not iso:
        return "—"
    moment = timezone.localtime(datetime.fromisoformat(iso), ZoneInfo(zone))
    return f"{formats.date_format(moment, 'SHORT_DATETIME_FORMAT')} {zone}"


def _criteria(names):
    from safety.rules import SERIOUSNESS_CRITERIA

    labels = dict(SERIOUSNESS_CRITERIA)
    return ", ".join(str(labels.get(name, name)) for name in names) or "—"


def _sae(params):
    stage = params.get("stage")  # None: the report; "12h", "20h", "late": an escalation
    late = stage == STAGE_LATE
    names = {"subject_id": params["subject_id"], "term": params["term"], "stage": stage or ""}
    if stage is None:
        subject = _("[IVIG EDC] Serious adverse event: %(subject_id)s, %(term)s") % names
        headline = _("A serious adverse event was reported.")
    elif late:
        subject = _("[IVIG EDC] LATE: Serious adverse event still unreviewed (%(stage)s): %(subject_id)s, "
                    "%(term)s") % names
        headline = _("A serious adverse event is still unreviewed, past its 24-hour window: LATE.")
    else:
        subject = _("[IVIG EDC] Serious adverse event still unreviewed (%(stage)s): %(subject_id)s, %(term)s") % names
        headline = _("A serious adverse event is still unreviewed, %(stage)s after the site became aware of it.") % names
    zone = params["zone"]
    due = _("Review due at: %(when)s") % {"when": _local(params.get("due_at"), zone)}
    lines = [
        headline,
        "",
        _("Subject: %(subject_id)s (site %(site)s)") % {"subject_id": params["subject_id"], "site": params["site"]},
        _("Event: %(term)s, CTCAE grade %(grade)s") % {"term": params["term"], "grade": params["grade"]},
        _("Seriousness criteria: %(criteria)s") % {"criteria": _criteria(params.get("criteria", []))},
        _("Onset: %(date)s") % {"date": _date(params.get("onset"))},
        _("Site aware at: %(when)s") % {"when": _local(params.get("aware_at"), zone)},
        due + (" — " + _("LATE") if late else ""),
        "",
        _("Open it: %(url)s") % {"url": params["url"]},
    ]
    return subject, "\n".join(lines)


def _query(kind, params):
    names = {"subject_id": params["subject_id"], "target": params["target"]}
    if kind == Kind.QUERY_RAISED:
        subject = _("[IVIG EDC] Data query raised: %(subject_id)s, %(target)s") % names
        headline = _("A data query was raised.")
        said = _("Question: %(text)s") % {"text": params["text"]}
    else:
        subject = _("[IVIG EDC] Data query answered: %(subject_id)s, %(target)s") % names
        headline = _("A data query was answered.")
        said = _("Answer: %(text)s") % {"text": params["text"]}
    body = "\n".join([
        headline, "",
        _("Subject: %(subject_id)s") % names,
        _("On: %(target)s") % names,
        said,
        "", _("Open it: %(url)s") % {"url": params["url"]}])
    return subject, body


def _more(n):
    return "  " + ngettext("... and %(n)s more", "... and %(n)s more", n) % {"n": n}


def _digest(params):
    today = _date(params["today"])
    overdue_count, unsigned_count = params["overdue_count"], params["unsigned_count"]
    subject = _("[IVIG EDC] Digest %(date)s: %(overdue)s overdue, %(unsigned)s to sign") % {
        "date": today, "overdue": overdue_count, "unsigned": unsigned_count}
    lines = [_("Your IVIG EDC digest of %(date)s.") % {"date": today}, ""]
    if overdue_count:
        overdue = params.get("overdue", [])
        lines.append(_("Overdue cycles (the window closed): %(n)s") % {"n": overdue_count})
        lines += ["  " + _("%(subject_id)s: window ended %(date)s") % {"subject_id": subject_id, "date": _date(end)}
                  for subject_id, end in overdue]
        if overdue_count > len(overdue):
            lines.append(_more(overdue_count - len(overdue)))
        lines += [f"  {params['overdue_url']}", ""]
    if unsigned_count:
        unsigned = params.get("unsigned", [])
        lines.append(_("Cycles awaiting your signature: %(n)s") % {"n": unsigned_count})
        lines += ["  " + _("%(subject_id)s: cycle %(number)s") % {"subject_id": subject_id, "number": number}
                  for subject_id, number in unsigned]
        if unsigned_count > len(unsigned):
            lines.append(_more(unsigned_count - len(unsigned)))
        lines += [f"  {params['unsigned_url']}", ""]
    return subject, "\n".join(lines)


def render(kind, params):
    """``(subject, body)`` of a notice of ``kind`` with ``params``, in the active language."""
    if kind in (Kind.SAE, Kind.SAE_ESCALATION):
        subject, body = _sae(params)
    elif kind in (Kind.QUERY_RAISED, Kind.QUERY_ANSWERED):
        subject, body = _query(kind, params)
    elif kind == Kind.DIGEST:
        subject, body = _digest(params)
    else:
        raise ValueError(f"No text for notices of kind {kind!r}.")
    return subject[:SUBJECT_MAX], body


def render_neutral(kind, params):
    """What is stored: the text in the source language."""
    with neutral():
        return render(kind, params)


def text_of(notice):
    """A stored notice's ``(subject, body)`` in the active language: from its parameters, or
    as stored for a notice made without them."""
    if notice.params:
        try:
            return render(notice.kind, notice.params)
        except (KeyError, TypeError, ValueError):
            pass
    return notice.subject, notice.body
