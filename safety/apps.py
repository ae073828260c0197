from django.apps import AppConfig


class SafetyConfig(AppConfig):
    name = "safety"
    verbose_name = "Safety"

    def ready(self):
        from core import derived

        from . import services

        derived.register("safety", services.derived_recompute)
