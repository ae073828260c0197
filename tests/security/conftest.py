"""Shared helpers of the security tests: one object of every kind at a site
("a world"), and the walk of the whole URLconf that fills each route's path
converters with those objects' ids.

The route list is computed from ``django.urls.get_resolver()``, never typed by
hand, so a view added tomorrow is requested by these tests tomorrow.
"""

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import full_cycle

# --- One object of every kind ---------------------------------------------------------


@dataclass
class World:
    """The records of one patient at one site, one of each kind."""

    site: object
    patient: object
    diagnosis: object
    malignancy: object
    cycle: object
    assessment: object
    infusion: object
    adverse_event: object
    deviation: object
    data_query: object
    job_file: object  # a file a background job made for the monitor who raised the query
    marker: str  # a text found only in this world's records (AE term, malignancy, lot)
    missed_cycle: object = None  # a month without infusion after the cycle (issue 15)
    medication: object = None  # a concomitant medication (issue 17)

    def of(self, kind):
        return getattr(self, kind)


def build_world(site, subject_id, marker, raiser):
    """A patient with a diagnosis, a malignancy, a cycle (assessment, day 1 and
    an under-dosed day 2, hence an open deviation), a serious adverse event and
    an open data query (raised by ``raiser``, a monitor)."""
    from review import services as review_services
    from safety.models import AdverseEvent
    from safety.services import adverse_event_save
    from visits.services import deviations_refresh

    patient = PatientFactory(site=site, subject_id=subject_id)
    diagnosis = DiagnosisFactory(patient=patient)
    malignancy = MalignancyFactory(patient=patient, malignancy_type=f"Lymphoma {marker}")
    cycle = full_cycle(patient, day2_dose=Decimal("60"))
    cycle.infusions.update(lot=f"LOT-{marker}")
    deviations = deviations_refresh(cycle=cycle, reason="Cycle entered")
    assert deviations, "the under-dosed day 2 should open a deviation"
    adverse_event = adverse_event_save(event=AdverseEvent(
        patient=patient, term=f"Aseptic meningitis {marker}", onset_date=date(2025, 3, 18), grade=3,
        relatedness="possible", action_taken="interrupted", outcome="recovering",
        serious=True, serious_hospitalisation=True))
    data_query = review_services.query_raise(
        record=patient, field_name="sex", field_label="Sex", record_label=f"Patient {subject_id}",
        question="Please confirm the sex.", user=raiser)
    from datetime import timedelta

    from jobs.models import JobFile
    from visits.models import MissedCycle
    from visits.services import missed_cycle_save

    missed = missed_cycle_save(missed=MissedCycle(patient=patient, planned_date=cycle.start_date + timedelta(days=28),
                                                  reason="other", reason_detail=f"Away {marker}"))
    job_file = JobFile.objects.create(kind="export", owner=raiser, label=f"Export {marker}", site=site)
    from medications.models import ConcomitantMedication
    from medications.services import medication_save

    medication = medication_save(medication=ConcomitantMedication(
        patient=patient, drug_name=f"Prednisone {marker}", atc_code="H02AB07", start_date=date(2025, 3, 20),
        ongoing=True))
    return World(site=site, patient=patient, diagnosis=diagnosis, malignancy=malignancy, cycle=cycle,
                 assessment=cycle.assessment, infusion=cycle.infusions.order_by("day").first(),
                 adverse_event=adverse_event, deviation=deviations[0], data_query=data_query,
                 job_file=job_file, marker=marker, missed_cycle=missed,
                 medication=medication)


@pytest.fixture
def raiser(make_user):
    return make_user("monitor", None, username="raiser")


@pytest.fixture
def world_a(site_a, raiser):
    return build_world(site_a, "01-001", "ALPHAMARK", raiser)


@pytest.fixture
def world_b(site_b, raiser):
    return build_world(site_b, "02-001", "BRAVOMARK", raiser)


# --- The walk of the URLconf --------------------------------------------------------------


@dataclass
class Route:
    key: str  # the URL name (namespace:name), or the pattern for an unnamed route
    pattern: str  # the full pattern, e.g. "patients/<int:pk>/edit/"
    callback: object
    name: str = ""
    kwarg_names: tuple = ()
    positional: int = 0
    methods: tuple = field(default=("GET",))

    @property
    def is_admin(self):
        return self.pattern.startswith("admin/")

    @property
    def is_api(self):
        return self.pattern.startswith("api/v1/")

    @property
    def takes_object(self):
        """Whether the address names a record (a pk, a patient, a token), not only a
        language code (the scripts' catalogue, ``/jsi18n/<language>/``)."""
        return bool(set(self.kwarg_names) - NOT_AN_OBJECT or self.positional)


#: Route parameters that name no record.
NOT_AN_OBJECT = {"language", "check_id"}  # an edit check's id (issue 17) names no site's record


def _methods(callback):
    """The methods the view answers besides GET: from the class-based view or the
    DRF viewset's action map; a plain function may answer anything (GET, POST)."""
    actions = getattr(callback, "actions", None)
    if actions:
        return tuple(m.upper() for m in ("get", "post", "patch") if m in actions) or ("GET",)
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return ("GET", "POST")
    allowed = [m for m in ("get", "post") if m in view_class.http_method_names and hasattr(view_class, m)]
    return tuple(["GET"] + [m.upper() for m in allowed if m != "get"])


def _walk(resolver, prefix, namespace):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from _walk(entry, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            regex = entry.pattern.regex
            named = tuple(regex.groupindex)
            yield Route(key=name or pattern, pattern=pattern, callback=entry.callback, name=name,
                        kwarg_names=named, positional=regex.groups - len(named) if not named else 0,
                        methods=_methods(entry.callback))


def all_routes():
    """Every route of the project's URLconf, recursively (admin, API and all)."""
    routes = list(_walk(get_resolver(), "", None))
    return routes


# --- Filling the path converters ---------------------------------------------------------

#: Which object a ``pk`` in a page's URL names (pages other than the admin and the API).
PK_OBJECT = {
    "patients:patient_detail": "patient",
    "patients:patient_update": "patient",
    "patients:patient_withdraw": "patient",
    "patients:malignancy_update": "malignancy",
    "patients:malignancy_void": "malignancy",
    "safety:ae_update": "adverse_event",
    "safety:ae_detail": "adverse_event",
    "safety:ae_void": "adverse_event",
    "safety:ae_follow_up": "adverse_event",
    "oversight:cycle_sign": "cycle",
    "oversight:cycle_lock": "cycle",
    "oversight:cycle_unlock": "cycle",
    "oversight:cycle_verify": "cycle",
    "oversight:casebook_sign": "patient",
    "oversight:casebook_lock": "patient",
    "oversight:casebook_unlock": "patient",
    "oversight:query_detail": "data_query",
    "oversight:query_answer": "data_query",
    "oversight:ae_detail": "adverse_event",
    "oversight:ae_acknowledge": "adverse_event",
    "oversight:ae_review": "adverse_event",
    "oversight:ae_follow_up": "adverse_event",
    "jobs:file_status": "job_file",
    "jobs:file_cancel": "job_file",
    "jobs:file_download": "job_file",
    "visits:missedcycle_void": "missed_cycle",
    "medications:medication_update": "medication",
    "medications:medication_void": "medication",
}

#: The API's collections and the object kind each one holds.
API_OBJECT = {
    "patients": "patient", "diagnoses": "diagnosis", "malignancies": "malignancy", "cycles": "cycle",
    "assessments": "assessment", "infusions": "infusion", "adverse-events": "adverse_event",
    "deviations": "deviation", "data-queries": "data_query", "missed-cycles": "missed_cycle",
    "medications": "medication",
}

#: Query strings a page needs to do its work (rather than refuse a malformed request).
QUERY = {
    "oversight:query_create": "?patient={patient}",
    "exchange:export_download": "?format=csv",
}

#: Unnamed routes: the path to request.
UNNAMED_PATHS = {
    "api/v1/^.*$": "/api/v1/no-such-collection/",
    "admin/(?P<url>.*)$": "/admin/no-such-page/",
}


def _admin_model(route):
    """The model of an admin route ``admin:<app>_<model>_<action>`` (or of its pattern)."""
    for model in admin.site._registry:
        meta = model._meta
        if route.pattern.startswith(f"admin/{meta.app_label}/{meta.model_name}/"):
            return model
    return None


def _admin_sample(model, world):
    for kind in ("patient", "diagnosis", "malignancy", "cycle", "assessment", "infusion",
                 "adverse_event", "deviation"):
        if isinstance(world.of(kind), model):
            return world.of(kind)
    return model._default_manager.order_by("pk").first()


def route_url(route, world):
    """The URL of ``route`` with its converters filled from ``world`` (one site's records)."""
    if route.key in UNNAMED_PATHS:
        return UNNAMED_PATHS[route.key]
    if not route.name:
        if route.is_admin:  # the admin's "<object_id>/" redirect to the change page
            model = _admin_model(route)
            obj = _admin_sample(model, world) if model else None
            return "/" + route.pattern.replace("<path:object_id>", str(obj.pk if obj else 1))
        raise AssertionError(f"Unnamed route {route.pattern!r}: add its path to UNNAMED_PATHS")
    kwargs, args = {}, []
    if route.is_admin:
        model = _admin_model(route)
        obj = _admin_sample(model, world) if model else None
        for name in route.kwarg_names:
            if name == "object_id" and route.name == "admin:view_on_site":
                kwargs[name] = world.patient.pk
            elif name == "content_type_id":
                kwargs[name] = ContentType.objects.get_for_model(world.patient).pk
            elif name in ("object_id", "id"):
                kwargs[name] = obj.pk if obj is not None else 1
            elif name == "app_label":
                kwargs[name] = "patients"
            else:
                raise AssertionError(f"{route.key}: no sample for {name!r}")
        if route.positional == 2:  # simple-history: <object pk>/history/<history id>/
            history = obj.history.order_by("history_id").first() if obj is not None else None
            args = [obj.pk if obj else 1, history.history_id if history else 1]
    elif route.is_api:
        collection = re.match(r"api:api-(.+)-(list|detail|[a-z]+)$", route.name)
        if route.kwarg_names:
            kind = API_OBJECT[collection.group(1)]
            kwargs["pk"] = world.of(kind).pk
    else:
        for name in route.kwarg_names:
            if name == "patient_pk":
                kwargs[name] = world.patient.pk
            elif name == "number":
                kwargs[name] = world.cycle.number
            elif name == "token":  # the calendar feed's secret: an unknown one (404)
                kwargs[name] = "no-such-token"
            elif name == "language":  # the scripts' catalogue of one language
                kwargs[name] = "fr"
            elif name == "check_id":  # an edit check (issue 17)
                kwargs[name] = "EC001"
            elif name == "pk":
                if route.name not in PK_OBJECT:
                    raise AssertionError(f"{route.key}: say in PK_OBJECT which object its pk names")
                kwargs[name] = world.of(PK_OBJECT[route.name]).pk
            else:
                raise AssertionError(f"{route.key}: no sample for {name!r}")
    url = reverse(route.name, args=args or None, kwargs=kwargs or None)
    query = QUERY.get(route.name, "")
    return url + query.format(patient=world.patient.pk)


# --- Classifying a response ----------------------------------------------------------------

LOGIN_PATHS = ("/accounts/login/", "/admin/login/")


def outcome(response):
    """One word for what the server answered:

    - ``login``: a redirect to a login page;
    - ``401``, ``403``, ``404``, ``405``, ``5xx``;
    - ``ok``: the request passed access control: 2xx, a redirect elsewhere, or a
      400 / 409 / 412 / 428 refusal of the (empty) test input.
    """
    status = response.status_code
    if status >= 500:
        return "5xx"
    if status in (301, 302, 303, 307, 308):
        location = response.get("Location", "")
        if any(location.split("?")[0].endswith(p) for p in LOGIN_PATHS):
            return "login"
        return "ok"
    if status in (401, 403, 404, 405):
        return str(status)
    return "ok"
