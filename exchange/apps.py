from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    """Datasets, export writers (CSV, XLSX, ODM, SDTM, FHIR) and imports: what the
    trial exchanges with statisticians and other systems. Reads stored facts; the
    imports write through the capture apps' services."""

    name = "exchange"
    verbose_name = _("Data exchange")

    def ready(self):
        from . import tasks

        tasks.register()  # the "export" kind of background job file (jobs.files)
