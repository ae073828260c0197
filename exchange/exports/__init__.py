"""Which format: each export turns the cohort (a Patient queryset) into a
stream of bytes. The rows come from ``exchange.datasets``."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str
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
        ExportFormat("csv", "CSV tables + data dictionary (zip)", "application/zip", "zip", "tabular:csv_zip"),
        ExportFormat("xlsx", "Excel workbook (XLSX)",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx",
                     "tabular:xlsx"),
        ExportFormat("odm", "CDISC ODM 1.3.2 (XML)", "application/xml", "xml", "odm:odm_xml"),
        ExportFormat("sdtm", "CDISC SDTM domains, CSV and SAS XPT v5 (zip)", "application/zip", "zip",
                     "sdtm:sdtm_zip"),
        ExportFormat("fhir", "HL7 FHIR R4B Bundle (JSON)", "application/fhir+json", "json",
                     "fhir:fhir_bundle"),
    ]
}


class UnknownFormat(ValueError):
    def __init__(self, name):
        super().__init__(f"Unknown export format {name!r}: choose one of {', '.join(FORMATS)}.")


def get_format(name):
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(name) from None
