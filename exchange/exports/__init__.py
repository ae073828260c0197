"""Which format: each export turns the cohort (a Patient queryset) into a
stream of bytes. The rows come from ``exchange.datasets``."""

from dataclasses import dataclass

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str  # shown on the exports page (translated); the file's content never uses it
    content_type: str
    extension: str
    writer: str  # "module:function", imported on use

    def stream(self, patients):
        from importlib import import_module

        module, function = self.writer.split(":")
        return getattr(import_module(f"exchange.exports.{module}"), function)(patients)

    def filename(self, stamp):
        return f"ivig-cohort-{self.name}-{stamp}.{self.extension}"


FORMATS = {
    f.name: f
    for f in [
        ExportFormat("csv", _("CSV tables + data dictionary (zip)"), "application/zip", "zip", "tabular:csv_zip"),
        ExportFormat("xlsx", _("Excel workbook (XLSX)"),
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx",
                     "tabular:xlsx"),
        ExportFormat("odm", _("CDISC ODM 1.3.2 (XML)"), "application/xml", "xml", "odm:odm_xml"),
        ExportFormat("sdtm", _("CDISC SDTM domains, CSV and SAS XPT v5 (zip)"), "application/zip", "zip",
                     "sdtm:sdtm_zip"),
        ExportFormat("fhir", _("HL7 FHIR R4B Bundle (JSON)"), "application/fhir+json", "json",
                     "fhir:fhir_bundle"),
    ]
}


class UnknownFormat(ValueError):
    def __init__(self, name):
        super().__init__(gettext("Unknown export format %(name)s: choose one of %(formats)s.")
                         % {"name": repr(name), "formats": ", ".join(FORMATS)})


def get_format(name):
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(name) from None
