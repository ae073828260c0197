"""The SDTM export: DM, MH, CE, EX, VS, LB, FT and AE as CSV and XPT v5 in a zip."""

import csv
import io
import zipfile
from collections import Counter
from datetime import date
from decimal import Decimal

import pyreadstat
import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Max, Min
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from patients.models import MalignancyHistory, Patient
from exchange import datasets
from exchange.exports import get_format, sdtm
from exchange.exports.base import spreadsheet_safe
from safety.models import AdverseEvent
from visits.models import Assessment, Infusion

pytestmark = pytest.mark.django_db

DOMAINS = ["DM", "MH", "CE", "EX", "VS", "LB", "FT", "AE", "CM"]
FILES = {f"{d.lower()}.{ext}" for d in DOMAINS for ext in ("csv", "xpt")} | {"README.txt"}


@pytest.fixture
def seeded(settings):
    settings.DEBUG = True
    call_command("seed_demo", verbosity=0)


def export(patients, tmp_path):
    """Write the zip to ``tmp_path``, extract it; return the folder."""
    path = tmp_path / "sdtm.zip"
    path.write_bytes(b"".join(sdtm.sdtm_zip(patients)))
    folder = tmp_path / "sdtm"
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        archive.extractall(folder)
    return folder


def read_xpt(folder, domain):
    data, meta = pyreadstat.read_xport(str(folder / f"{domain.lower()}.xpt"))
    return data, meta


def read_csv(folder, domain):
    with open(folder / f"{domain.lower()}.csv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def cohort_files(seeded, tmp_path):
    return export(Patient.objects.all(), tmp_path)


def test_registered_format_streams_this_export(seeded):
    chunks = get_format("sdtm").stream(Patient.objects.all())
    with zipfile.ZipFile(io.BytesIO(b"".join(chunks))) as archive:
        assert set(archive.namelist()) == FILES


@pytest.mark.req("URS-CPY-003")
def test_zip_holds_csv_and_xpt_per_domain_and_readme(cohort_files):
    assert {p.name for p in cohort_files.iterdir()} == FILES
    readme = (cohort_files / "README.txt").read_text()
    assert datasets.DEIDENTIFICATION_NOTE in readme
    assert "sponsor-defined" in readme.lower()
    assert "WHO-UMC" in readme
    for domain in DOMAINS:
        assert f"- {domain} (" in readme


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_xpt_reads_back_with_the_v5_limits(cohort_files, domain):
    data, meta = read_xpt(cohort_files, domain)
    assert meta.table_name == domain
    assert len(meta.file_label) <= 40
    assert all(len(name) <= 8 and name == name.upper() for name in meta.column_names)
    assert all(label and len(label) <= 40 for label in meta.column_labels)
    assert all(width <= 200 for width in meta.variable_storage_width.values())
    assert set(data["DOMAIN"]) == {domain}
    assert set(data["STUDYID"]) == {datasets.STUDY_OID}
    if domain != "DM":
        for _, group in data.groupby("USUBJID"):  # --SEQ is 1..n per subject
            assert sorted(group[f"{domain}SEQ"]) == list(range(1, len(group) + 1))


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.req("URS-CPY-003")
def test_csv_and_xpt_agree(cohort_files, domain):
    data, _ = read_xpt(cohort_files, domain)
    rows = read_csv(cohort_files, domain)
    assert len(rows) == len(data) > 0
    assert list(rows[0]) == list(data.columns)
    for row, record in zip(rows, data.to_dict("records")):
        for name, text in row.items():
            value = record[name]
            if isinstance(value, float):
                assert (float(text) if text else None) == (None if value != value else value), name
            else:
                assert text == spreadsheet_safe(value), name  # the CSV neutralises formulas, the XPT does not


def test_dm_one_record_per_subject_with_age_and_reference_dates(cohort_files):
    data, _ = read_xpt(cohort_files, "DM")
    assert len(data) == 11
    assert data["USUBJID"].is_unique
    patients = {p.subject_id: p for p in Patient.objects.all()}
    infusions = Infusion.objects.values("cycle__patient__subject_id").annotate(
        first=Min("infusion_date"), last=Max("infusion_date"))
    dates = {i["cycle__patient__subject_id"]: (i["first"], i["last"]) for i in infusions}
    for row in data.to_dict("records"):
        patient = patients[row["SUBJID"]]
        assert row["USUBJID"] == f"{datasets.STUDY_OID}-{patient.subject_id}"
        assert row["AGE"] == patient.age_at_enrolment
        assert row["AGEU"] == "YEARS"
        first, last = dates[patient.subject_id]
        assert row["RFSTDTC"] == first.isoformat() == row["RFXSTDTC"]
        assert row["RFENDTC"] == last.isoformat() == row["RFXENDTC"]
        assert row["SITEID"] == patient.subject_id[:2]
        assert (row["ARMCD"], row["ARM"]) == ("IVIG", "IVIG 1 g/kg x 2 days every 4 weeks")


def test_dm_reads_the_stored_age_and_treatment_dates(seeded, tmp_path):
    """DM shows the facts stored on the patient (``patients.services``), not a
    second derivation from the birth year and the infusions."""
    patient = Patient.objects.filter(first_infusion_date__isnull=False).order_by("subject_id").first()
    Patient.objects.filter(pk=patient.pk).update(  # stored values no rule would give for this row
        age_at_enrolment=patient.age_at_enrolment + 7, first_infusion_date=date(2001, 2, 3),
        last_infusion_date=date(2001, 4, 5))
    data, _ = read_xpt(export(Patient.objects.all(), tmp_path), "DM")
    row = data[data["SUBJID"] == patient.subject_id].iloc[0]
    assert row["AGE"] == patient.age_at_enrolment + 7
    assert (row["RFSTDTC"], row["RFXSTDTC"]) == ("2001-02-03", "2001-02-03")
    assert (row["RFENDTC"], row["RFXENDTC"]) == ("2001-04-05", "2001-04-05")


def test_mh_holds_the_diagnosis_and_current_malignancies(cohort_files):
    data, _ = read_xpt(cohort_files, "MH")
    diagnoses = data[data["MHCAT"] == "PRIMARY DIAGNOSIS"]
    assert len(diagnoses) == 11
    assert set(diagnoses["MHTERM"]) == {"POLYMYOSITIS", "DERMATOMYOSITIS"}
    onset = Patient.objects.get(subject_id="01-001").symptom_onset_date
    assert diagnoses[diagnoses["USUBJID"].str.endswith("01-001")]["MHSTDTC"].item() == onset.isoformat()
    before = MalignancyHistory.objects.current().filter(timing="before")
    assert (data["MHCAT"] == "MALIGNANCY").sum() == before.count() == 3  # the fourth began on study (CE)


def test_voided_malignancy_and_assessment_are_left_out(seeded, tmp_path):
    MalignancyHistory.objects.filter(pk=MalignancyHistory.objects.first().pk).update(
        voided_at=timezone.now(), void_reason="entered in error")
    voided = Assessment.objects.filter(patient__subject_id="01-001").order_by("-assessment_date").first()
    Assessment.objects.filter(pk=voided.pk).update(voided_at=timezone.now(), void_reason="wrong patient")
    folder = export(Patient.objects.all(), tmp_path)
    mh, _ = read_xpt(folder, "MH")
    assert (mh["MHCAT"] == "MALIGNANCY").sum() == 2
    ft, _ = read_xpt(folder, "FT")
    assert voided.assessment_date.isoformat() not in set(ft[ft["USUBJID"].str.endswith("01-001")]["FTDTC"])


@pytest.mark.req("URS-CPY-003")
def test_ex_one_record_per_infusion_with_the_database_dose(cohort_files):
    data, _ = read_xpt(cohort_files, "EX")
    assert len(data) == Infusion.objects.count() == 87
    assert set(data["EXROUTE"]) == {"INTRAVENOUS"}
    assert set(data["EXDOSU"]) == {"g"}
    doses = {(f"{datasets.STUDY_OID}-{i.cycle.patient.subject_id}", i.infusion_date.isoformat()): float(i.dose_g)
             for i in Infusion.objects.select_related("cycle__patient")}
    for row in data.to_dict("records"):
        assert row["EXDOSE"] == doses[(row["USUBJID"], row["EXSTDTC"][:10])]
        assert row["VISIT"] == f"CYCLE {int(row['VISITNUM'])}"
    first = data.sort_values("EXSTDTC").groupby("USUBJID").first()
    assert set(first["EXSTDY"]) == {1.0}


def test_vs_weight_per_cycle_with_one_baseline(cohort_files):
    data, _ = read_xpt(cohort_files, "VS")
    weights = data[data["VSTESTCD"] == "WEIGHT"]
    assert len(weights) == 44
    assert set(weights["VSORRESU"]) == {"kg"}
    baseline = weights[weights["VSBLFL"] == "Y"]
    assert baseline["USUBJID"].is_unique and len(baseline) == 11
    assert set(baseline["VISITNUM"]) == {1.0}


def test_lb_one_baseline_per_subject_and_test(cohort_files):
    data, _ = read_xpt(cohort_files, "LB")
    assert set(data["LBTESTCD"]) <= {"CK", "ALDOLASE", "LDH", "AST", "ALT"}
    flags = Counter(zip(data[data["LBBLFL"] == "Y"]["USUBJID"], data[data["LBBLFL"] == "Y"]["LBTESTCD"]))
    done = data[data["LBSTAT"] != "NOT DONE"]  # a test not done (missing-data code) has no result to flag
    tested = set(zip(done["USUBJID"], done["LBTESTCD"]))
    assert set(flags) == tested and set(flags.values()) == {1}
    assert set(data["LBBLFL"]) == {"Y", ""}
    ck = data[data["LBTESTCD"] == "CK"]
    assert set(ck["LBLOINC"]) == {"2157-6"}
    assert set(ck["LBORRESU"]) == {"U/L"}


def test_no_lb_baseline_for_a_test_not_done_at_the_first_assessment(seeded, tmp_path):
    first = Assessment.objects.filter(patient__subject_id="01-001").order_by("assessment_date").first()
    Assessment.objects.filter(pk=first.pk).update(ldh_u_per_l=None)
    data, _ = read_xpt(export(Patient.objects.all(), tmp_path), "LB")
    subject = data[data["USUBJID"] == f"{datasets.STUDY_OID}-01-001"]
    baseline = subject[subject["LBBLFL"] == "Y"]
    assert list(baseline["LBTESTCD"]) == ["CK"]
    assert set(baseline["LBDTC"]) == {first.assessment_date.isoformat()}


def test_lb_ck_matches_the_database(cohort_files):
    data, _ = read_xpt(cohort_files, "LB")
    row = data[(data["USUBJID"] == f"{datasets.STUDY_OID}-01-001") & (data["LBTESTCD"] == "CK")
               & (data["VISITNUM"] == 1)]
    assessment = Assessment.objects.get(patient__subject_id="01-001", cycle__number=1)
    assert row["LBSTRESN"].item() == float(assessment.ck_u_per_l)
    assert Decimal(row["LBORRES"].item()) == assessment.ck_u_per_l
    assert Decimal(row["LBORNRLO"].item()) == assessment.ck_lln_u_per_l
    assert Decimal(row["LBORNRHI"].item()) == assessment.ck_uln_u_per_l
    assert row["LBBLFL"].item() == "Y"
    assert row["LBNRIND"].item() == "HIGH"
    end = data[(data["VISITNUM"] == 99)]
    assert set(end["VISIT"]) == {"END OF TREATMENT"}


def test_ft_nine_records_per_complete_assessment(cohort_files):
    data, _ = read_xpt(cohort_files, "FT")
    complete = Assessment.objects.current().filter(mmt_total__isnull=False).count()
    assert complete == 53
    assert len(data) == 9 * complete
    assert set(data["FTCAT"]) == {"MMT-8"}
    assert all(len(code) <= 8 for code in data["FTTESTCD"])
    assert Counter(data["FTTESTCD"])["MMTTOT"] == complete
    per_assessment = data.groupby(["USUBJID", "FTDTC"]).size()
    assert set(per_assessment) == {9}
    total = data[(data["USUBJID"] == f"{datasets.STUDY_OID}-01-001") & (data["FTTESTCD"] == "MMTTOT")
                 & (data["FTBLFL"] == "Y")]
    first = Assessment.objects.get(patient__subject_id="01-001", cycle__number=1)
    assert total["FTSTRESN"].item() == first.mmt_total
    assert len(data[data["FTBLFL"] == "Y"]) == 9 * 11


def test_ae_grade_1_reaction(cohort_files):
    data, _ = read_xpt(cohort_files, "AE")
    assert len(data) == 1
    row = data.iloc[0]
    ae = AdverseEvent.objects.get()
    assert row["AETERM"] == ae.term
    assert (row["AETOXGR"], row["AESEV"], row["AESER"]) == ("1", "MILD", "N")
    assert all(row[flag] == "N" for flag in ("AESDTH", "AESLIFE", "AESHOSP", "AESDISAB", "AESCONG", "AESMIE"))
    assert row["AEREL"] == "PROBABLE/LIKELY"
    assert row["AEACN"] == "DOSE RATE REDUCED"
    assert row["AEOUT"] == "RECOVERED/RESOLVED"
    assert row["AESTDTC"] == ae.onset_date.isoformat()


def test_voided_ae_is_left_out(seeded, tmp_path):
    AdverseEvent.objects.update(voided_at=timezone.now(), void_reason="duplicate")
    data, _ = read_xpt(export(Patient.objects.all(), tmp_path), "AE")
    assert len(data) == 0


def test_ae_severity_and_outcome_terms():
    assert [sdtm.severity(g) for g in (1, 2, 3, 4, 5)] == ["MILD", "MODERATE", "SEVERE", "SEVERE", "SEVERE"]
    assert set(sdtm.AEOUT.values()) == {"RECOVERED/RESOLVED", "RECOVERING/RESOLVING", "NOT RECOVERED/NOT RESOLVED",
                                       "RECOVERED/RESOLVED WITH SEQUELAE", "FATAL", "UNKNOWN"}


def test_long_text_is_truncated_to_200_bytes(seeded, tmp_path):
    AdverseEvent.objects.update(term="é" * 150)  # 300 bytes of UTF-8
    folder = export(Patient.objects.all(), tmp_path)
    data, meta = read_xpt(folder, "AE")
    assert data["AETERM"].item() == "é" * 100
    assert meta.variable_storage_width["AETERM"] == 200
    assert read_csv(folder, "AE")[0]["AETERM"] == "é" * 100
    assert "values truncated per domain: AE 1." in (folder / "README.txt").read_text()


def test_empty_cohort_gives_readable_empty_datasets(db, tmp_path):
    folder = export(Patient.objects.none(), tmp_path)
    assert {p.name for p in folder.iterdir()} == FILES
    for domain in sdtm.DOMAINS:
        data, meta = read_xpt(folder, domain.code)
        assert len(data) == 0
        assert meta.table_name == domain.code
        assert list(data.columns) == domain.names
        assert meta.column_labels == [v.label for v in domain.variables]
        with open(folder / f"{domain.filename}.csv", encoding="utf-8") as handle:
            assert handle.read().strip() == ",".join(domain.names)


def _queries(patients):
    with CaptureQueriesContext(connection) as queries:
        for _ in sdtm.sdtm_zip(patients):
            pass
    return len(queries)


def test_query_count_does_not_grow_with_the_cohort(seeded):
    """DM 1 (subjects, last contact and death as subqueries); MH 2 (subjects, malignancies);
    CE, EX, VS, LB, FT, AE 2 each (rows and the subjects' reference dates, read alongside
    instead of held in memory)."""
    one = _queries(Patient.objects.filter(subject_id="01-001"))
    everyone = _queries(Patient.objects.all())
    assert one == everyone == 17


@pytest.mark.req("URS-CPY-005")
def test_no_birth_year_or_date_anywhere(cohort_files):
    patients = list(Patient.objects.all())
    birth_dates = {p.birth_date.isoformat() for p in patients if p.birth_date}
    for path in cohort_files.iterdir():
        if path.suffix == ".csv":
            header = path.read_text().splitlines()[0]
            assert "BRTH" not in header and "BIRTH" not in header.upper()
            assert not any(d in path.read_text() for d in birth_dates)
    dm, _ = read_xpt(cohort_files, "DM")
    assert not any("BRTH" in name for name in dm.columns)
    for row in dm.to_dict("records"):
        birth_year = next(p.birth_year for p in patients if p.subject_id == row["SUBJID"])
        assert str(birth_year) not in {str(v) for v in row.values()}
        assert float(birth_year) not in {v for v in row.values() if isinstance(v, float)}


def test_a_variable_beyond_the_xpt_limits_is_refused():
    with pytest.raises(ValueError, match="LONGNAME9"):
        sdtm.Domain("XX", "Test", "", [sdtm.Var("LONGNAME9", "Label")], None)
    with pytest.raises(ValueError):
        sdtm.Domain("XX", "Test", "", [sdtm.Var("NAME", "L" * 41)], None)
