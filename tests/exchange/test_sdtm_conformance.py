"""SDTM conformance: a cohort that exercises every exported domain, read back from the
XPT files with pyreadstat and held against SDTMIG v3.3 (``tests/exchange/sdtmig.py``):
every Req variable present and non-empty on every record, every Exp variable present,
the variables in SDTMIG's order with its labels and types, and the SAS transport v5
limits (names <= 8 characters, labels <= 40, character lengths <= 200 bytes and wide
enough for every value). One test per domain."""

import zipfile
from datetime import date, datetime, timezone as dt_timezone
from decimal import Decimal

import pyreadstat
import pytest

from exchange.exports import sdtm
from patients.models import Patient
from coding.selectors import term_by_llt_code
from medications.models import ConcomitantMedication
from medications.services import medication_save
from safety.models import AdverseEvent
from safety.services import adverse_event_save
from tests.accounts.factories import SiteFactory
from tests.patients.factories import DiagnosisFactory, MalignancyFactory, PatientFactory
from tests.visits.factories import AssessmentFactory, CycleFactory, InfusionFactory, full_cycle

from .sdtmig import EXP, NUM, REQ, SDTMIG

pytestmark = pytest.mark.django_db

DOMAINS = [
    "DM", "MH", "CE", "EX", "VS", "LB", "FT",
    "AE", "CM",
]

EOT_DATE = date(2025, 6, 2)
DEATH_DATE = date(2025, 4, 20)


def build_cohort():
    """Three subjects at two sites (FRA, DEU): one treated over two cycles with an
    end-of-treatment visit, a malignancy before and one during treatment and an adverse
    event; one treated once who died of an adverse event and was withdrawn; one enrolled
    and not yet treated."""
    paris, berlin = SiteFactory(code="01"), SiteFactory(code="02", country="DEU", time_zone="Europe/Berlin")

    treated = PatientFactory(site=paris, subject_id="01-001", status="completed")
    DiagnosisFactory(patient=treated)
    first = full_cycle(treated, 1, height_cm=Decimal("165.0"))
    full_cycle(treated, 2)
    first_assessment = first.assessment
    for name, value in (("ck_lln_u_per_l", 30), ("aldolase_u_per_l", 9), ("aldolase_uln_u_per_l", 7.6),
                        ("ldh_u_per_l", 400), ("ldh_uln_u_per_l", 250), ("ast_u_per_l", 80),
                        ("ast_uln_u_per_l", 40), ("alt_u_per_l", 60), ("alt_uln_u_per_l", 45)):
        setattr(first_assessment, name, Decimal(str(value)))
    first_assessment.save()
    AssessmentFactory(cycle=None, patient=treated, timepoint="end", assessment_date=EOT_DATE)
    treated.save()  # the stored treatment dates (first and last infusion, end of treatment)
    MalignancyFactory(patient=treated, malignancy_type="Non-Hodgkin lymphoma", diagnosis_date=date(2018, 5, 1))
    MalignancyFactory(patient=treated, malignancy_type="Ovarian carcinoma", diagnosis_date=date(2025, 4, 14),
                      status="active")
    adverse_event_save(event=AdverseEvent(
        patient=treated, infusion=first.infusions.get(day=1), term="Headache", onset_date=date(2025, 3, 17),
        end_date=date(2025, 3, 18), grade=1, relatedness="probable", outcome="recovered",
        coded_term=term_by_llt_code("10019211")))
    medication_save(medication=ConcomitantMedication(
        patient=treated, drug_name="Cortancyl", atc_code="H02AB07", indication="myositis", dose=20, dose_unit="mg",
        route="ORAL", frequency="QD", start_date=date(2025, 3, 20), ongoing=True))

    died = PatientFactory(site=berlin, subject_id="02-001", sex="M", status="withdrawn",
                          withdrawal_date=DEATH_DATE, withdrawal_reason="Died (pulmonary embolism)")
    DiagnosisFactory(patient=died, pm=True)
    cycle = CycleFactory(patient=died, number=1)
    InfusionFactory(cycle=cycle, day=1)
    died.save()
    adverse_event_save(event=AdverseEvent(
        patient=died, term="Pulmonary embolism", onset_date=date(2025, 4, 18), end_date=DEATH_DATE, grade=5,
        serious=True, serious_death=True, relatedness="possible", outcome="fatal",
        aware_at=datetime(2025, 4, 18, 9, tzinfo=dt_timezone.utc),
        coded_term=term_by_llt_code("10043565")))  # CTCAE "Thromboembolic event"

    waiting = PatientFactory(site=paris, subject_id="01-002", status="screening")
    DiagnosisFactory(patient=waiting)
    return Patient.objects.all()


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "sdtm.zip"
    path.write_bytes(b"".join(sdtm.sdtm_zip(build_cohort())))
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "sdtm")
    return tmp_path / "sdtm"


def _empty(value):
    return value is None or value == "" or value != value  # NaN: a missing number


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.req("URS-CPY-003")
def test_domain_conforms_to_sdtmig(folder, domain):
    spec = SDTMIG[domain]
    path = folder / f"{domain.lower()}.xpt"
    assert path.exists(), f"{domain}: no dataset"
    data, meta = pyreadstat.read_xport(str(path))
    names = list(meta.column_names)
    assert len(data) > 0, f"{domain}: the cohort exercises every domain"
    assert meta.table_name == domain and 0 < len(meta.file_label or domain) <= 40

    # Req: present and non-empty on every record; Exp: present.
    missing = [name for name, _, _, core in spec if core in (REQ, EXP) and name not in names]
    assert not missing, f"{domain}: SDTMIG Req/Exp variables missing: {missing}"
    for name, _, _, core in spec:
        if core == REQ:
            empty = [i for i, value in enumerate(data[name]) if _empty(value)]
            assert not empty, f"{domain}.{name} (Req) empty on records {empty}"

    # Order: the variables SDTMIG lists come in its order (sponsor variables may sit between).
    order = [name for name, *_ in spec]
    listed = [name for name in names if name in order]
    assert listed == sorted(listed, key=order.index), f"{domain}: variables out of SDTMIG order"

    # Labels and types as SDTMIG gives them; XPT v5 limits.
    labels = dict(zip(names, meta.column_labels))
    for name, label, kind, _ in spec:
        if name not in names:
            continue
        if label is not None:
            assert labels[name] == label, f"{domain}.{name}: label {labels[name]!r}, SDTMIG {label!r}"
        stored = meta.readstat_variable_types[name]
        assert (stored == "double") == (kind == NUM), f"{domain}.{name}: {stored}, SDTMIG {kind}"
    assert all(len(name) <= 8 and name.isupper() for name in names)
    assert all(label and len(label) <= 40 for label in meta.column_labels)
    for name in names:
        width = meta.variable_storage_width[name]
        if meta.readstat_variable_types[name] == "double":
            assert width == 8, name
            continue
        longest = max((len(v.encode("utf-8")) for v in data[name] if isinstance(v, str)), default=0)
        assert longest <= width <= 200, f"{domain}.{name}: width {width}, longest value {longest}"


def dm_rows(folder):
    data, _ = pyreadstat.read_xport(str(folder / "dm.xpt"))
    return {row["SUBJID"]: row for row in data.to_dict("records")}


def test_dm_country_end_of_participation_death_and_arms(folder):
    dm = dm_rows(folder)
    treated, died, waiting = dm["01-001"], dm["02-001"], dm["01-002"]
    assert (treated["COUNTRY"], died["COUNTRY"], waiting["COUNTRY"]) == ("FRA", "DEU", "FRA")
    assert treated["RFPENDTC"] == EOT_DATE.isoformat()  # the last contact: the end-of-treatment visit
    assert died["RFPENDTC"] == DEATH_DATE.isoformat()
    assert waiting["RFPENDTC"] == "2025-03-10"  # enrolment, the only contact so far
    assert (died["DTHFL"], died["DTHDTC"]) == ("Y", DEATH_DATE.isoformat())
    assert (treated["DTHFL"], treated["DTHDTC"]) == ("", "")
    for row in (treated, died):
        assert (row["ARMCD"], row["ACTARMCD"], row["ARMNRS"]) == ("IVIG", "IVIG", "")
    assert (waiting["ARMCD"], waiting["ARM"]) == ("IVIG", sdtm.ARM)
    assert (waiting["ACTARMCD"], waiting["ACTARM"], waiting["ARMNRS"]) == ("", "", "ASSIGNED, NOT TREATED")
    assert waiting["RFSTDTC"] == ""


def test_malignancies_split_by_their_stored_timing(folder):
    mh, _ = pyreadstat.read_xport(str(folder / "mh.xpt"))
    ce, _ = pyreadstat.read_xport(str(folder / "ce.xpt"))
    assert list(mh[mh["MHCAT"] == "MALIGNANCY"]["MHTERM"]) == ["Non-Hodgkin lymphoma"]
    assert list(ce["CETERM"]) == ["Ovarian carcinoma"]
    assert list(ce["CECAT"]) == ["MALIGNANCY"] and list(ce["CESTDTC"]) == ["2025-04-14"]
    assert list(ce["CESTDY"]) == [29.0]  # first infusion 2025-03-17 is day 1


def test_the_stored_timing_is_read_not_recomputed(tmp_path):
    """A malignancy whose stored timing says "before" stays history whatever its date."""
    from patients.models import MalignancyHistory

    patients = build_cohort()
    MalignancyHistory.objects.filter(malignancy_type="Ovarian carcinoma").update(timing="before")
    path = tmp_path / "sdtm.zip"
    path.write_bytes(b"".join(sdtm.sdtm_zip(patients)))
    with zipfile.ZipFile(path) as archive:
        archive.extractall(tmp_path / "x")
    mh, _ = pyreadstat.read_xport(str(tmp_path / "x" / "mh.xpt"))
    assert "Ovarian carcinoma" in set(mh["MHTERM"])
