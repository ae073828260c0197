"""A patient's casebook as a PDF: WeasyPrint renders the HTML casebook's forms
(``safety.casebook.casebook_get`` and the read-only form includes) with a print
template (``templates/oversight/casebook_pdf.html``) and a print stylesheet
(``static/css/casebook_print.css``).

WeasyPrint fetches nothing from the network: :class:`LocalStaticFetcher` serves the
app's own static files from the file system (through the staticfiles finders) and
refuses every other URL. Fonts are Debian's DejaVu, named by the stylesheet.

Language: the PDF is rendered in ``language`` (the requesting user's, given by the job)
under ``translation.override``: its headings and labels, and its dates in that language's
formats (dd/mm/yyyy in French); the data themselves (values, hashes, free text) as stored.

Queries: a constant number whatever the number of cycles, adverse events or queries
(the casebook's selectors, the signatures, the query threads; pinned by
``tests/oversight/test_casebook_pdf.py``).
"""

import mimetypes
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.db.models import prefetch_related_objects
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation import pgettext
from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from patients.models import Patient
from review.models import Signature
from safety.casebook import casebook_get

#: The base URL the print template's static files are named under (never fetched as such:
#: :class:`LocalStaticFetcher` maps it onto the staticfiles finders).
STATIC_BASE_URL = "file:///ivigtrial-static/"
PDF_CONTENT_TYPE = "application/pdf"
STYLESHEET = "css/casebook_print.css"


class LocalStaticFetcher(URLFetcher):
    """WeasyPrint's URL fetcher limited to the app's static files: ``STATIC_BASE_URL`` +
    a path the staticfiles finders know. Anything else (http, https, data, other files)
    is refused (WeasyPrint logs a warning and renders without it)."""

    def fetch(self, url, headers=None):
        if not url.startswith(STATIC_BASE_URL):
            raise ValueError(f"Only the application's static files are fetched, not {url[:200]!r}.")
        relative = url[len(STATIC_BASE_URL):].split("?")[0].split("#")[0]
        if not relative or ".." in Path(relative).parts:
            raise ValueError(f"Not a static file: {relative!r}.")
        found = finders.find(relative)
        if not found:
            raise ValueError(f"No static file {relative!r}.")
        content_type = mimetypes.guess_type(found)[0] or "application/octet-stream"
        return URLFetcherResponse(url, Path(found).read_bytes(), {"Content-Type": content_type})


#: A signature's state (a code) and how the PDF names it.
SIGNATURE_STATES = {
    "valid": gettext_lazy("valid"),
    "invalidated": gettext_lazy("invalidated"),
    "not valid": gettext_lazy("not valid"),
    "superseded": gettext_lazy("superseded"),
}


@dataclass
class SignatureRow:
    record_label: str
    signature: object
    #: "valid", "invalidated", "not valid" (data changed with no recorded invalidation),
    #: or "superseded" (a later signature of the same record).
    state: str
    detail: str = ""

    @property
    def state_label(self):
        return SIGNATURE_STATES.get(self.state, self.state)


@dataclass
class RenderedPdf:
    content: bytes
    pages: int


def patient_for_pdf(pk):
    """The patient with what the casebook reads (site, diagnosis)."""
    return Patient.objects.with_related().get(pk=pk)


def _record_labels(casebook):
    labels = {("patient", casebook.patient.pk): _("Casebook")}
    for block in casebook.cycles:
        labels[("treatmentcycle", block.row.cycle.pk)] = _("Cycle %(number)s") % {"number": block.number}
    return labels


def _signature_rows(casebook):
    """Every signature of the patient (latest per record with its validity from the review
    state, earlier ones as superseded or invalidated), oldest first: one query."""
    latest = {sig.pk for sig in casebook.review.signatures.values()}
    by_pk = {sig.pk: sig for sig in casebook.review.signatures.values()}
    labels = _record_labels(casebook)
    rows = []
    for signature in (Signature.objects.filter(patient=casebook.patient).with_invalidation()
                      .select_related("content_type").order_by("signed_at", "pk")):
        label = labels.get((signature.content_type.model, signature.object_id),
                           f"{signature.content_type.name} {signature.object_id}")
        if signature.pk in latest:
            current = by_pk[signature.pk]
            if current.is_valid:
                rows.append(SignatureRow(label, current, "valid"))
            elif current.invalidated_at:
                rows.append(SignatureRow(label, current, "invalidated", current.invalidated_reason))
            else:
                rows.append(SignatureRow(label, current, "not valid", current.invalidated_reason))
        elif signature.invalidation_at:
            rows.append(SignatureRow(label, signature, "invalidated", signature.invalidation_reason))
        else:
            rows.append(SignatureRow(label, signature, "superseded", _("a later signature of the same record")))
    return rows


def _verification_rows(casebook):
    """The latest source data verification of each form and field (the review state's)."""
    labels = _record_labels(casebook)
    rows = []
    for verification in [*casebook.review.verifications.values(), *casebook.review.field_marks.values()]:
        key = (verification.content_type.model, verification.object_id)
        label = labels.get(key) or f"{verification.content_type.name.capitalize()} {verification.object_id}"
        if verification.field_name:
            label = f"{label} / {verification.field_label}"
        rows.append((label, verification))
    rows.sort(key=lambda row: (row[1].verified_at, row[1].pk))
    return rows


def casebook_pdf_context(patient, *, generated_by, generated_at):
    """What the print template shows. ``generated_by``: the user the PDF is made for."""
    casebook = casebook_get(patient)
    queries = list(casebook.review.queries)
    prefetch_related_objects(queries, "messages__author", "raised_by")
    signature = casebook.signature
    return {
        "patient": patient,
        "casebook": casebook,
        "review": casebook.review,
        "no_history": True,  # each form's history is in the casebook's change log at the end
        "review_controls": False,
        "signatures": _signature_rows(casebook),
        "verifications": _verification_rows(casebook),
        "queries": queries,
        "generated_by": generated_by,
        "generated_by_name": (generated_by.get_full_name() or generated_by.get_username()) if generated_by else "",
        "generated_at": generated_at,
        "casebook_signed": bool(signature and signature.is_valid),
        "time_zone": timezone.get_current_timezone_name(),
        "language_code": translation.get_language(),
        "static_base": STATIC_BASE_URL,
        "stylesheet": STYLESHEET,
    }


def _css_string(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def page_margin_css():
    """The footer's words in the active language: the print stylesheet's @page margin boxes
    say them in English; this user stylesheet (after it) says them in the PDF's language.
    A stylesheet, not a <style> element: no template of ours carries inline style."""
    return ("@page { @bottom-right { content: %s counter(page) %s counter(pages); } "
            "@bottom-left { content: %s; } }") % (
        _css_string(pgettext("page X of Y", "Page") + " "), _css_string(" " + pgettext("page X of Y", "of") + " "),
        _css_string(_("IVIG myositis trial EDC · casebook print")))


def casebook_pdf_render(patient, *, generated_by=None, generated_at=None, language=None):
    """The PDF of ``patient``'s casebook (times in the patient's site's zone), in
    ``language`` (a code such as "fr"; None: the active language)."""
    generated_at = generated_at or timezone.now()
    zone = getattr(patient.site, "time_zone", "") or "UTC"
    language = language or translation.get_language() or settings.LANGUAGE_CODE
    with timezone.override(zoneinfo.ZoneInfo(zone)), translation.override(language):
        html = render_to_string("oversight/casebook_pdf.html",
                                casebook_pdf_context(patient, generated_by=generated_by, generated_at=generated_at))
        margins = CSS(string=page_margin_css())
    document = HTML(string=html, base_url=STATIC_BASE_URL, url_fetcher=LocalStaticFetcher(),
                    media_type="print").render(stylesheets=[margins])
    return RenderedPdf(content=document.write_pdf(), pages=len(document.pages))


def casebook_pdf_filename(patient):
    return f"casebook-{patient.subject_id}.pdf"
