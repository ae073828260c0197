from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    """Background jobs: the project's layer over Django's Tasks API (``django_tasks``,
    database backend ``django_tasks_db``): bounded retries, periodic schedules, and
    the in-process runner the tests and ``run_schedules --once`` use."""

    name = "jobs"
    verbose_name = _("Background jobs")

    def ready(self):
        from django.utils.module_loading import autodiscover_modules

        # Each app declares its periodic jobs in its own schedules.py (jobs.schedules.every / daily).
        autodiscover_modules("schedules")
