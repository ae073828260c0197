"""Issue 13, layout: ``core`` keeps the record kernel only; signatures, source
verifications and data queries live in ``review``, on the tables they had, and the
kernel reaches them through one registered hook, never by import."""

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.test import RequestFactory

from core import selectors as core_selectors
from core import services as core_services
from core.services import record_save
from review import selectors as review_selectors
from review import services as review_services
from review.models import (DataQuery, DataQueryMessage, ReviewInvalidation, Signature, SourceVerification)
from tests.patients.factories import PatientFactory
from tests.visits.factories import full_cycle
from visits.models import TreatmentCycle

ROOT = Path(settings.BASE_DIR)
PASSWORD = "correct horse battery"
#: Capture apps and the kernel: what they may never import (DESIGN: dependencies between apps).
NEVER = {"review", "oversight", "reporting", "exchange", "editchecks"}
KERNEL_AND_CAPTURE = ("core", "patients", "visits", "safety", "medications")


def _imports(path):
    """Top-level package names imported by the module at ``path`` (absolute imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0], node.lineno


def _modules(app):
    # Migrations are history: core.0003 protects its tables with oversight.append_only.
    return [p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts]


def test_the_kernel_and_the_capture_apps_never_import_review_or_the_workflow_apps():
    offending = [f"{path.relative_to(ROOT)}:{line} imports {name}"
                 for app in KERNEL_AND_CAPTURE for path in _modules(app)
                 for name, line in _imports(path) if name in NEVER]
    assert offending == []


def test_core_holds_no_model_and_review_holds_the_review_models_on_their_old_tables():
    assert list(apps.get_app_config("core").get_models()) == []
    tables = {model.__name__: (model._meta.app_label, model._meta.db_table)
              for model in (Signature, SourceVerification, ReviewInvalidation, DataQuery, DataQueryMessage)}
    assert tables == {
        "Signature": ("review", "core_signature"),
        "SourceVerification": ("review", "core_sourceverification"),
        "ReviewInvalidation": ("review", "core_reviewinvalidation"),
        "DataQuery": ("review", "core_dataquery"),
        "DataQueryMessage": ("review", "core_dataquerymessage"),
    }
    history = {model.history.model._meta.db_table
               for model in (Signature, SourceVerification, ReviewInvalidation, DataQuery, DataQueryMessage)}
    assert history == {"core_historicalsignature", "core_historicalsourceverification",
                       "core_historicalreviewinvalidation", "core_historicaldataquery",
                       "core_historicaldataquerymessage"}


def test_no_application_module_imports_a_private_helper_of_core():
    """``oversight.audit`` used ``core.history._display`` and ``_tracked_fields``: the
    kernel's helpers are public (``display_value``, ``tracked_fields``)."""
    offending = []
    for path in ROOT.rglob("*.py"):
        if {".venv", "migrations", "tests"} & set(path.relative_to(ROOT).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("core"):
                offending += [f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                              for a in node.names if a.name.startswith("_")]
    assert offending == []


def test_review_registers_its_hook_and_its_reader_with_the_kernel():
    assert core_services.after_change_hooks.count(review_services.after_change) == 1
    assert core_selectors._review_state is review_selectors.review_state


@pytest.mark.django_db
def test_record_save_invalidates_a_signature_through_the_hook_only(site_a, investigator, clinician,
                                                                   monkeypatch):
    """The kernel reaches review only through ``after_change_hooks``: without the hook a
    change leaves the signature's invalidation unrecorded (it still shows invalid, by its
    hash); with it, the change is recorded with its reason."""
    patient = PatientFactory(site=site_a, subject_id="01-001")
    cycle = full_cycle(patient)
    signature = review_services.record_sign(record=cycle, user=investigator, password=PASSWORD,
                                            request=RequestFactory().post("/"))

    monkeypatch.setattr(core_services, "after_change_hooks", [])
    cycle = TreatmentCycle.objects.get(pk=cycle.pk)
    cycle.weight_kg = Decimal("71.0")
    record_save(instance=cycle, reason="Scale recalibrated", user=clinician)
    assert not ReviewInvalidation.objects.exists()
    signature.refresh_from_db()
    assert signature.invalidation is None and not signature.is_valid

    monkeypatch.setattr(core_services, "after_change_hooks", [review_services.after_change])
    cycle = TreatmentCycle.objects.get(pk=cycle.pk)
    cycle.weight_kg = Decimal("72.0")
    record_save(instance=cycle, reason="Weighed again", user=clinician)
    invalidation = ReviewInvalidation.objects.get()
    assert (invalidation.signature_id, invalidation.user) == (signature.pk, clinician)
    assert invalidation.reason.endswith("Weighed again")


def test_nothing_below_imports_editchecks_and_its_hook_is_registered_once():
    """Issue 17: the edit checks sit on top (they read the capture apps and write through
    review.services); the kernel reaches them by one hook, and no app below imports them."""
    from editchecks import services as editcheck_services

    below = ("core", "accounts", "patients", "visits", "safety", "review", "oversight", "reporting", "exchange",
             "notifications", "jobs")
    offending = [f"{path.relative_to(ROOT)}:{line}" for app in below for path in _modules(app)
                 for name, line in _imports(path) if name == "editchecks"]
    assert offending == []
    assert core_services.after_change_hooks.count(editcheck_services.after_change) == 1
