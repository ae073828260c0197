"""The CDISC ODM 1.3.2 import: our export comes back as the same clinical data; a bad file
(schema, OIDs, types, rules, existing subjects) is refused with the path of each problem and
nothing is imported."""

import os
import subprocess
import sys
from copy import deepcopy
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from lxml import etree

from accounts.models import Site
from core.services import record_save
from patients import rules as patient_rules
from patients.models import Diagnosis, MalignancyHistory, Patient
from exchange.exports import odm
from exchange.imports.odm import OdmImportError, import_odm
from exchange.imports.odm import load as odm_load
from exchange.imports.odm import parse as odm_parse
from exchange.imports.odm import verify as odm_verify
from medications.models import ConcomitantMedication
from safety.models import AdverseEvent
from tests.accounts.factories import MembershipFactory, UserFactory
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db

NS = {"odm": odm.ODM_NAMESPACE}
ROOT = Path(__file__).resolve().parents[2]
CLINICAL_MODELS = [Site, Patient, Diagnosis, MalignancyHistory, TreatmentCycle, Assessment, Infusion,
                   AdverseEvent, ProtocolDeviation]
#: System fields of the source (entry, review, detection times; the SAE clock, which ran against the
#: source's entry): a new system sets its own.
SYSTEM_ITEMS = {"IT.ADVERSE_EVENTS.ENTERED_AT", "IT.ADVERSE_EVENTS.REVIEWED_AT", "IT.DEVIATIONS.DETECTED_AT",
                "IT.DEVIATIONS.RESOLVED_AT", "IT.ADVERSE_EVENTS.AWARE_AT", "IT.ADVERSE_EVENTS.REPORT_DUE_AT",
                "IT.ADVERSE_EVENTS.REPORTED_LATE"}
CK_PATH = ('/ODM/ClinicalData/SubjectData[@SubjectKey="01-003"]/StudyEventData[@StudyEventOID="SE.CYCLE"]'
           '[@StudyEventRepeatKey="2"]/FormData[@FormOID="F.ASSESSMENT"]/ItemGroupData[@ItemGroupOID='
           '"IG.ASSESSMENTS"]/ItemData[@ItemOID="IT.ASSESSMENTS.CK_U_PER_L"]')


@pytest.fixture(scope="module")
def demo_xml(django_db_setup, django_db_blocker):
    """The demo cohort as the ODM export writes it. Seeded and exported inside a transaction that
    is rolled back, so every test of this module starts from an empty (migrated) database."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", force=True, verbosity=0)
        data = b"".join(odm.odm_xml(Patient.objects.all()))
        transaction.set_rollback(True)
    return data


# --- helpers ---------------------------------------------------------------------------------------

def tree(data):
    return etree.fromstring(data)


def only(root, *subjects):
    """The file with only these subjects."""
    root = deepcopy(root)
    for subject in root.iterfind("odm:ClinicalData/odm:SubjectData", NS):
        if subject.get("SubjectKey") not in subjects:
            subject.getparent().remove(subject)
    return root


def write(tmp_path, root, name="import.xml"):
    path = tmp_path / name
    path.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    return path


def group_of(root, subject, group_oid, event="SE.ENROLMENT", event_key=None, group_key=None):
    path = f"odm:ClinicalData/odm:SubjectData[@SubjectKey='{subject}']/odm:StudyEventData[@StudyEventOID='{event}']"
    if event_key is not None:
        path += f"[@StudyEventRepeatKey='{event_key}']"
    path += f"/odm:FormData/odm:ItemGroupData[@ItemGroupOID='{group_oid}']"
    if group_key is not None:
        path += f"[@ItemGroupRepeatKey='{group_key}']"
    (found,) = root.findall(path, NS)
    return found


def set_item(group, item_oid, value):
    """Change (or add) one ItemData of an ItemGroupData."""
    item = group.find(f"odm:ItemData[@ItemOID='{item_oid}']", NS)
    if item is None:
        item = etree.SubElement(group, f"{{{odm.ODM_NAMESPACE}}}ItemData", ItemOID=item_oid)
    item.set("Value", value)
    return item


def item_value(group, item_oid):
    return group.find(f"odm:ItemData[@ItemOID='{item_oid}']", NS).get("Value")


def stored_rows():
    """Rows and history rows of every clinical table: what an import would add to."""
    return {model.__name__: (model.objects.count(), model.history.count()) for model in CLINICAL_MODELS}


def refused(path, **kwargs):
    before = stored_rows()
    with pytest.raises(OdmImportError) as caught:
        import_odm(path, **kwargs)
    assert stored_rows() == before, "a refused file imports nothing"
    return [(e.path, e.message) for e in caught.value.errors]


def clinical_data(data):
    """The clinical data of an ODM file, without what a new system cannot keep: the audit
    records, the source's adverse-event ids (an event is numbered by its position instead) and its
    entry, review and detection times."""
    subjects = {}
    for subject in tree(data).iterfind("odm:ClinicalData/odm:SubjectData", NS):
        groups = {}
        for event in subject.iterfind("odm:StudyEventData", NS):
            for form in event.iterfind("odm:FormData", NS):
                for position, group in enumerate(form.iterfind("odm:ItemGroupData", NS), start=1):
                    key = group.get("ItemGroupRepeatKey")
                    if group.get("ItemGroupOID") in (odm.ADVERSE_EVENTS.oid, odm.MEDICATIONS.oid):
                        key = f"#{position}"  # the source's own numbering: new ids here
                    groups[(event.get("StudyEventOID"), event.get("StudyEventRepeatKey"), form.get("FormOID"),
                            group.get("ItemGroupOID"), key)] = {
                        i.get("ItemOID"): i.get("Value") for i in group.iterfind("odm:ItemData", NS)
                        if i.get("ItemOID") not in SYSTEM_ITEMS}
        subjects[subject.get("SubjectKey")] = (subject.find("odm:SiteRef", NS).get("LocationOID"), groups)
    return subjects


def locations(data):
    return [(loc.get("OID"), loc.get("Name"), loc.find("odm:MetaDataVersionRef", NS).get("EffectiveDate"))
            for loc in tree(data).iterfind("odm:AdminData/odm:Location", NS)]


def metadata(data):
    return etree.tostring(tree(data).find("odm:Study", NS))


def assert_same_clinical_data(original, again):
    before, after = clinical_data(original), clinical_data(again)
    assert sorted(after) == sorted(before)
    for subject, (site, groups) in before.items():
        assert after[subject][0] == site
        assert after[subject][1] == groups, subject
    assert locations(again) == locations(original)
    assert metadata(again) == metadata(original)


def group_counts(data):
    root = tree(data)
    return {group.table: len(root.findall(f".//odm:ItemGroupData[@ItemGroupOID='{group.oid}']", NS))
            for group in odm.GROUPS}


# --- the round trip ----------------------------------------------------------------------------------

@pytest.mark.req("URS-BCP-001")
def test_export_then_import_into_an_empty_database_gives_the_same_clinical_data(demo_xml, tmp_path):
    assert not Patient.objects.exists() and not Site.objects.exists()
    result = import_odm(write(tmp_path, tree(demo_xml), "demo.xml"))

    assert result.counts == group_counts(demo_xml) == {
        "patients": 11, "diagnoses": 11, "malignancies": 4, "cycles": 44, "assessments": 53, "infusions": 87,
        "adverse_events": 1, "deviations": 4, "medications": 7}
    assert result.sites_created == ["01", "02"]
    assert result.warnings == []
    assert_same_clinical_data(demo_xml, b"".join(odm.odm_xml(Patient.objects.all())))


@pytest.mark.req("URS-AUD-006")
def test_every_imported_history_row_names_the_file_and_the_system_as_author(demo_xml, tmp_path):
    import_odm(write(tmp_path, only(tree(demo_xml), "01-002", "01-003"), "two.xml"))

    for model in CLINICAL_MODELS:
        rows = list(model.history.values_list("history_type", "history_user_id", "history_change_reason"))
        assert rows, model
        assert {(user, reason) for _type, user, reason in rows} == {(None, "Imported from ODM file two.xml")}
    # The patient is created on study, then completed: the model's transition rule.
    # (Between them, the rows of the derived facts each cycle moves: the first and last infusion.)
    statuses = list(Patient.history.filter(subject_id="01-003").order_by("history_id")
                    .values_list("history_type", "status"))
    assert (statuses[0], statuses[-1]) == (("+", "on_study"), ("~", "completed"))
    assert set(statuses[1:-1]) <= {("~", "on_study")}
    # Outside an import, nothing fills in a reason.
    malignancy = record_save(instance=MalignancyHistory(
        patient=Patient.objects.get(subject_id="01-003"), malignancy_type="Basal cell carcinoma",
        diagnosis_date=date(2020, 5, 1), status="remission"))
    assert malignancy.history.get().history_change_reason is None


@pytest.mark.req("URS-AUD-006")
def test_the_reason_is_passed_to_the_services_not_set_by_a_signal_receiver():
    """The import names its file on each write (``record_save(reason=...)``,
    ``CycleParts.creation_reason``); no receiver rewrites history rows behind the services."""
    from simple_history.signals import post_create_historical_record, pre_create_historical_record

    import exchange.imports.odm  # noqa: F401 - imported: whatever it would connect is connected

    assert not pre_create_historical_record.has_listeners()
    assert not post_create_historical_record.has_listeners()


def test_the_year_of_birth_gives_back_the_exported_age():
    for enrolment in (date(2025, 1, 13), date(2025, 6, 30), date(2025, 7, 1), date(2025, 12, 31)):
        for age in (18, 39, 55, 90):
            year = odm_load.birth_year_for(age, enrolment)
            assert patient_rules.age_at(enrolment, year) == age
    assert odm_load.birth_year_for(39, date(2025, 1, 13)) == 1985  # before 1 July: born mid-1985
    assert odm_load.birth_year_for(39, date(2025, 7, 1)) == 1986


@pytest.mark.req("URS-DOC-003")
def test_every_exported_column_has_an_import_rule():
    for group in odm.GROUPS:
        rules = [set(odm_load.IMPORTED.get(group.table, {})), set(odm_load.SPECIAL.get(group.table, ())),
                 set(odm_verify.DERIVED.get(group.table, ())), set(odm_load.NOT_IMPORTED.get(group.table, ()))]
        for column in group.columns:
            assert sum(column.name in rule for rule in rules) == 1, (group.table, column.name)


@pytest.mark.req("URS-AUD-006")
def test_the_importing_user_is_the_author(demo_xml, tmp_path):
    user = UserFactory(username="datamanager")
    MembershipFactory(user=user, role="admin")  # entering data needs a role that grants it, at the site
    call_command("import_odm", str(write(tmp_path, only(tree(demo_xml), "01-002"))), user="datamanager",
                 stdout=StringIO())
    assert set(TreatmentCycle.history.values_list("history_user_id", flat=True)) == {user.pk}
    assert set(ProtocolDeviation.history.values_list("history_user_id", flat=True)) == {user.pk}
    assert set(Patient.history.values_list("history_user_id", flat=True)) == {user.pk}


@pytest.mark.req("URS-DAT-001")
def test_a_dry_run_checks_everything_and_imports_nothing(demo_xml, tmp_path):
    before = stored_rows()
    result = import_odm(write(tmp_path, only(tree(demo_xml), "01-001", "02-001")), dry_run=True)
    assert result.dry_run
    assert result.counts["patients"] == 2 and result.counts["cycles"] > 0
    assert result.sites_created == ["01", "02"]
    assert stored_rows() == before


# --- status and sites from the file ------------------------------------------------------------------

def _withdrawn(root, subject, on):
    patient = group_of(root, subject, "IG.PATIENTS")
    set_item(patient, "IT.PATIENTS.STATUS", "withdrawn")
    set_item(patient, "IT.PATIENTS.WITHDRAWAL_DATE", on)
    set_item(patient, "IT.PATIENTS.WITHDRAWAL_REASON", "Moved abroad")
    return root


def test_a_withdrawn_patient_is_withdrawn_after_the_treatment_with_the_files_date_and_reason(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-003")
    last_day = item_value(group_of(root, "01-003", "IG.INFUSIONS", "SE.CYCLE", "3", "2"), "IT.INFUSIONS.INFUSION_DATE")
    import_odm(write(tmp_path, _withdrawn(root, "01-003", last_day)))

    patient = Patient.objects.get(subject_id="01-003")
    assert (patient.status, patient.withdrawal_date, patient.withdrawal_reason) == (
        "withdrawn", date.fromisoformat(last_day), "Moved abroad")
    assert patient.cycles.count() == 3


def test_treatment_after_the_withdrawal_date_is_refused(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-003")
    start = date.fromisoformat(item_value(group_of(root, "01-003", "IG.CYCLES", "SE.CYCLE", "3"),
                                          "IT.CYCLES.START_DATE"))
    errors = refused(write(tmp_path, _withdrawn(root, "01-003", (start - timedelta(days=1)).isoformat())))
    cycle_3 = ('/ODM/ClinicalData/SubjectData[@SubjectKey="01-003"]/StudyEventData[@StudyEventOID="SE.CYCLE"]'
               '[@StudyEventRepeatKey="3"]/FormData[@FormOID="F.CYCLE"]/ItemGroupData[@ItemGroupOID="IG.CYCLES"]'
               '/ItemData[@ItemOID="IT.CYCLES.START_DATE"]')
    assert (cycle_3, "The patient was withdrawn before this date.") in errors


def test_a_missing_site_without_a_location_to_create_it_from_is_an_error(demo_xml, tmp_path):
    root = only(tree(demo_xml), "02-001")
    location = root.find("odm:AdminData/odm:Location[@OID='LOC.02']", NS)
    location.getparent().remove(location)
    errors = refused(write(tmp_path, root))
    assert errors == [('/ODM/ClinicalData/SubjectData[@SubjectKey="02-001"]/SiteRef',
                       "Site 02 does not exist and the file has no AdminData Location LOC.02 (with a Name) to "
                       "create it from.")]


def test_an_existing_site_is_used_as_it_is(demo_xml, tmp_path):
    Site.objects.create(code="02", name="Our name for it")
    result = import_odm(write(tmp_path, only(tree(demo_xml), "02-001")))
    assert result.sites_created == []
    assert Patient.objects.get(subject_id="02-001").site.name == "Our name for it"
    assert [w.message for w in result.warnings] == [
        "Site 02 is 'Our name for it' here; the file names it 'City General Hospital': kept 'Our name for it'."]


def test_a_serious_event_reviewed_in_the_source_awaits_review_again(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-003")
    event = root.find(".//odm:ItemGroupData[@ItemGroupOID='IG.ADVERSE_EVENTS']", NS)
    set_item(event, "IT.ADVERSE_EVENTS.SERIOUS", "true")
    set_item(event, "IT.ADVERSE_EVENTS.SERIOUS_MEDICALLY_IMPORTANT", "true")
    set_item(event, "IT.ADVERSE_EVENTS.REVIEWED_AT", "2025-04-01T10:00:00+00:00")
    result = import_odm(write(tmp_path, root))

    assert AdverseEvent.objects.awaiting_review().count() == 1
    assert [w.message for w in result.warnings] == [
        "The source reviewed this serious event at 2025-04-01 10:00; the review is not imported: the event "
        "awaits expedited review here."]


def test_an_age_at_onset_that_a_year_of_birth_cannot_give_is_a_warning(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001")
    diagnosis = group_of(root, "01-001", "IG.DIAGNOSES")
    age = int(item_value(diagnosis, "IT.DIAGNOSES.AGE_AT_ONSET"))
    set_item(diagnosis, "IT.DIAGNOSES.AGE_AT_ONSET", str(age - 1))
    result = import_odm(write(tmp_path, root))

    assert Patient.objects.get(subject_id="01-001").age_at_onset == age
    assert [(w.path.rsplit("/", 1)[1], w.message.split(" With ")[0]) for w in result.warnings] == [
        ('ItemData[@ItemOID="IT.DIAGNOSES.AGE_AT_ONSET"]',
         f"The file gives '{age - 1}'; the rules compute '{age}' from the imported data.")]


# --- refused files -----------------------------------------------------------------------------------

@pytest.mark.req("URS-DAT-001")
def test_a_schema_invalid_file_is_refused_with_the_path(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001")
    group = group_of(root, "01-001", "IG.CYCLES", "SE.CYCLE", "1")
    del group.find("odm:ItemData[@ItemOID='IT.CYCLES.WEIGHT_KG']", NS).attrib["ItemOID"]
    errors = refused(write(tmp_path, root))

    assert len(errors) == 1
    path, message = errors[0]
    assert path.startswith('/ODM/ClinicalData/SubjectData[@SubjectKey="01-001"]/StudyEventData'
                           '[@StudyEventOID="SE.CYCLE"][@StudyEventRepeatKey="1"]/FormData[@FormOID="F.CYCLE"]'
                           '/ItemGroupData[@ItemGroupOID="IG.CYCLES"]/ItemData[')
    assert "The attribute 'ItemOID' is required but missing" in message


@pytest.mark.req("URS-DAT-003")
def test_a_file_that_is_not_xml_is_refused(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_bytes(b"<ODM><ClinicalData>")
    assert refused(path)[0][1].startswith("The file is not well-formed XML")


SUBJECT = '/ODM/ClinicalData/SubjectData[@SubjectKey="01-001"]'
CYCLE_1 = f'{SUBJECT}/StudyEventData[@StudyEventOID="SE.CYCLE"][@StudyEventRepeatKey="1"]'


@pytest.mark.parametrize("xpath, attribute, value, path, message", [
    ("odm:ClinicalData", "StudyOID", "OTHER-STUDY", "/ODM/ClinicalData",
     "Unknown StudyOID 'OTHER-STUDY': this study is 'IVIG-PM-DM'."),
    ("//odm:StudyEventData[@StudyEventOID='SE.CYCLE'][@StudyEventRepeatKey='1']", "StudyEventOID", "SE.VISIT",
     f'{SUBJECT}/StudyEventData[@StudyEventOID="SE.VISIT"][@StudyEventRepeatKey="1"]',
     "Unknown StudyEventOID 'SE.VISIT': the study's events are SE.ENROLMENT, SE.CYCLE, SE.EOT."),
    ("//odm:FormData[@FormOID='F.DIAGNOSIS']", "FormOID", "F.LABS",
     f'{SUBJECT}/StudyEventData[@StudyEventOID="SE.ENROLMENT"]/FormData[@FormOID="F.LABS"]',
     "Unknown FormOID 'F.LABS'."),
    ("//odm:ItemGroupData[@ItemGroupOID='IG.DIAGNOSES']", "ItemGroupOID", "IG.LABS",
     f'{SUBJECT}/StudyEventData[@StudyEventOID="SE.ENROLMENT"]/FormData[@FormOID="F.DIAGNOSIS"]'
     '/ItemGroupData[@ItemGroupOID="IG.LABS"]',
     "ItemGroupOID 'IG.LABS' in the form F.DIAGNOSIS (unknown); this form holds IG.DIAGNOSES."),
    ("(//odm:ItemData[@ItemOID='IT.CYCLES.WEIGHT_KG'])[1]", "ItemOID", "IT.CYCLES.WAIST_CM",
     f'{CYCLE_1}/FormData[@FormOID="F.CYCLE"]/ItemGroupData[@ItemGroupOID="IG.CYCLES"]'
     '/ItemData[@ItemOID="IT.CYCLES.WAIST_CM"]',
     "Unknown ItemOID 'IT.CYCLES.WAIST_CM' in IG.CYCLES."),
])
@pytest.mark.req("URS-DAT-001")
def test_an_unknown_oid_is_refused_with_the_path(demo_xml, tmp_path, xpath, attribute, value, path, message):
    root = only(tree(demo_xml), "01-001")
    (element,) = root.xpath(xpath, namespaces=NS)
    element.set(attribute, value)
    assert (path, message) in refused(write(tmp_path, root))


def test_a_form_in_the_wrong_event_is_refused(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001")
    (form,) = root.xpath("//odm:StudyEventData[@StudyEventOID='SE.CYCLE'][@StudyEventRepeatKey='1']"
                         "/odm:FormData[@FormOID='F.INFUSIONS']", namespaces=NS)
    group_of(root, "01-001", "IG.PATIENTS").getparent().getparent().append(deepcopy(form))
    assert (f'{SUBJECT}/StudyEventData[@StudyEventOID="SE.ENROLMENT"]/FormData[@FormOID="F.INFUSIONS"]',
            "The form F.INFUSIONS does not belong to the event SE.ENROLMENT (its forms: F.PATIENT, F.DIAGNOSIS, "
            "F.MALIGNANCIES, F.ADVERSE_EVENTS, F.MEDICATIONS).") in refused(write(tmp_path, root))


def test_values_of_the_wrong_type_or_outside_the_code_list_are_refused(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001")
    set_item(group_of(root, "01-001", "IG.PATIENTS"), "IT.PATIENTS.SEX", "X")
    set_item(group_of(root, "01-001", "IG.DIAGNOSES"), "IT.DIAGNOSES.BP_EMG", "maybe")
    set_item(group_of(root, "01-001", "IG.CYCLES", "SE.CYCLE", "1"), "IT.CYCLES.START_DATE", "2025-13-01")
    set_item(group_of(root, "01-001", "IG.ASSESSMENTS", "SE.CYCLE", "1"), "IT.ASSESSMENTS.MMT_BICEPS", "6.5")
    errors = dict(refused(write(tmp_path, root)))

    enrolment = f'{SUBJECT}/StudyEventData[@StudyEventOID="SE.ENROLMENT"]'
    assert errors == {
        f'{enrolment}/FormData[@FormOID="F.PATIENT"]/ItemGroupData[@ItemGroupOID="IG.PATIENTS"]'
        '/ItemData[@ItemOID="IT.PATIENTS.SEX"]': "'X' is not in the code list CL.PATIENTS.SEX (F, M).",
        f'{enrolment}/FormData[@FormOID="F.DIAGNOSIS"]/ItemGroupData[@ItemGroupOID="IG.DIAGNOSES"]'
        '/ItemData[@ItemOID="IT.DIAGNOSES.BP_EMG"]':
            "'maybe' is not a boolean (true or false). IT.DIAGNOSES.BP_EMG is of type boolean.",
        f'{CYCLE_1}/FormData[@FormOID="F.CYCLE"]/ItemGroupData[@ItemGroupOID="IG.CYCLES"]'
        '/ItemData[@ItemOID="IT.CYCLES.START_DATE"]':
            "'2025-13-01' is not a date (YYYY-MM-DD). IT.CYCLES.START_DATE is of type date.",
        f'{CYCLE_1}/FormData[@FormOID="F.ASSESSMENT"]/ItemGroupData[@ItemGroupOID="IG.ASSESSMENTS"]'
        '/ItemData[@ItemOID="IT.ASSESSMENTS.MMT_BICEPS"]':
            "'6.5' is not an integer. IT.ASSESSMENTS.MMT_BICEPS is of type integer.",
    }


@pytest.mark.req("URS-DAT-001")
def test_values_that_break_a_rule_are_refused_with_the_path_and_the_rules_message(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001", "01-003", "02-001")
    set_item(group_of(root, "01-003", "IG.ASSESSMENTS", "SE.CYCLE", "2"), "IT.ASSESSMENTS.CK_U_PER_L", "-5")
    set_item(group_of(root, "02-001", "IG.PATIENTS"), "IT.PATIENTS.SYMPTOM_ONSET_DATE", "2015-01-01")
    set_item(group_of(root, "02-001", "IG.INFUSIONS", "SE.CYCLE", "1", "2"), "IT.INFUSIONS.INFUSION_DATE",
             "2030-01-01")
    errors = refused(write(tmp_path, root))

    subject = '/ODM/ClinicalData/SubjectData[@SubjectKey="02-001"]'
    onset = (f'{subject}/StudyEventData[@StudyEventOID="SE.ENROLMENT"]/FormData[@FormOID="F.PATIENT"]'
             '/ItemGroupData[@ItemGroupOID="IG.PATIENTS"]/ItemData[@ItemOID="IT.PATIENTS.SYMPTOM_ONSET_DATE"]')
    day_2 = (f'{subject}/StudyEventData[@StudyEventOID="SE.CYCLE"][@StudyEventRepeatKey="1"]'
             '/FormData[@FormOID="F.INFUSIONS"]/ItemGroupData[@ItemGroupOID="IG.INFUSIONS"][@ItemGroupRepeatKey="2"]'
             '/ItemData[@ItemOID="IT.INFUSIONS.INFUSION_DATE"]')
    # Every problem is collected before the import is refused, not only the first; a refused
    # patient does not hide the errors of the subject's other records.
    assert errors == [
        (CK_PATH, "CK cannot be negative."),
        (onset, "Symptom onset more than 36 months before enrolment: the myopathy is not recent enough for "
                "this study."),
        (day_2, "An infusion date cannot be in the future."),
    ]


@pytest.mark.req("URS-DAT-001")
def test_a_subject_that_already_exists_is_refused_and_nothing_else_is_imported(demo_xml, tmp_path):
    import_odm(write(tmp_path, only(tree(demo_xml), "01-001"), "first.xml"))
    errors = refused(write(tmp_path, only(tree(demo_xml), "01-001", "01-002"), "second.xml"))
    assert errors == [(SUBJECT, "Subject 01-001 already exists: the import only adds new subjects.")]
    assert not Patient.objects.filter(subject_id="01-002").exists()


@pytest.mark.req("URS-DAT-002")
def test_a_derived_value_that_disagrees_with_the_rules_is_refused(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001")
    group = group_of(root, "01-001", "IG.ASSESSMENTS", "SE.CYCLE", "1")
    total = int(item_value(group, "IT.ASSESSMENTS.MMT_TOTAL"))
    set_item(group, "IT.ASSESSMENTS.MMT_TOTAL", str(total + 1))
    assert refused(write(tmp_path, root)) == [(
        f'{CYCLE_1}/FormData[@FormOID="F.ASSESSMENT"]/ItemGroupData[@ItemGroupOID="IG.ASSESSMENTS"]'
        '/ItemData[@ItemOID="IT.ASSESSMENTS.MMT_TOTAL"]',
        f"The file gives '{total + 1}'; the rules compute '{total}' from the imported data.")]


@pytest.mark.req("URS-DAT-002")
def test_deviations_are_recomputed_and_a_difference_is_a_warning(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-002")
    deviation = group_of(root, "01-002", "IG.DEVIATIONS", "SE.CYCLE", "2", "1")
    kind = item_value(deviation, "IT.DEVIATIONS.KIND")
    form = deviation.getparent()
    form.getparent().remove(form)
    result = import_odm(write(tmp_path, root))

    assert ProtocolDeviation.objects.filter(patient__subject_id="01-002", cycle__number=2, kind=kind).exists()
    assert [(w.path, w.message) for w in result.warnings] == [(
        '/ODM/ClinicalData/SubjectData[@SubjectKey="01-002"]/StudyEventData[@StudyEventOID="SE.CYCLE"]'
        '[@StudyEventRepeatKey="2"]',
        f"Protocol deviations: the file lists none; the rules found {kind} (day 2) in the imported data "
        f"(the rules' are kept).")]


# --- the command -----------------------------------------------------------------------------------

@pytest.mark.req("URS-DAT-001")
def test_the_command_exit_codes(demo_xml, tmp_path, capsys):
    good = write(tmp_path, only(tree(demo_xml), "01-001"), "good.xml")
    bad_root = only(tree(demo_xml), "01-003")
    set_item(group_of(bad_root, "01-003", "IG.ASSESSMENTS", "SE.CYCLE", "2"), "IT.ASSESSMENTS.CK_U_PER_L", "-5")
    bad = write(tmp_path, bad_root, "bad.xml")

    with pytest.raises(CommandError) as caught:
        call_command("import_odm", str(bad))
    assert caught.value.returncode == 1
    assert f"{CK_PATH}: CK cannot be negative." in capsys.readouterr().err

    call_command("import_odm", str(good), dry_run=True)
    assert "Dry run: good.xml is valid; nothing imported" in capsys.readouterr().out
    assert not Patient.objects.exists()

    call_command("import_odm", str(good))
    assert "Imported good.xml: patients 1, diagnoses 1" in capsys.readouterr().out
    assert Patient.objects.filter(subject_id="01-001").exists()

    for arguments, options in [((str(good),), {"user": "nobody"}), ((str(tmp_path / "missing.xml"),), {})]:
        with pytest.raises(CommandError) as caught:
            call_command("import_odm", *arguments, **options)
        assert caught.value.returncode == 2


def _manage(*arguments, database_url):
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "0"}
    env.setdefault("SECRET_KEY", "odm-round-trip-test")
    return subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)  # a bound, not a speed target: migrate is slow on a loaded machine


@pytest.mark.req("URS-BCP-001")
def test_command_line_round_trip_in_a_fresh_database(demo_xml, tmp_path):
    """``manage.py import_odm`` then ``export_cohort --format odm`` in a new, migrated database of its
    own (a SQLite file, whatever database the tests use)."""
    database_url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    source = write(tmp_path, tree(demo_xml), "demo.xml")
    assert _manage("migrate", "--verbosity", "0", database_url=database_url).returncode == 0

    imported = _manage("import_odm", str(source), database_url=database_url)
    assert imported.returncode == 0, imported.stderr
    assert "Imported demo.xml: patients 11" in imported.stdout
    again = _manage("import_odm", str(source), database_url=database_url)
    assert again.returncode == 1
    assert "Subject 01-001 already exists" in again.stderr

    exported = _manage("export_cohort", "--format", "odm", "--output", str(tmp_path / "again.xml"),
                       database_url=database_url)
    assert exported.returncode == 0, exported.stderr
    assert_same_clinical_data(demo_xml, (tmp_path / "again.xml").read_bytes())


# --- hostile markup: an error list, never a traceback -------------------------------------------------

XI = "http://www.w3.org/2001/XInclude"


@pytest.mark.req("URS-DAT-003")
def test_an_xinclude_is_refused_with_its_path_and_never_processed(demo_xml, tmp_path, capsys):
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-CONTENT")
    root = only(tree(demo_xml), "01-001")
    group = group_of(root, "01-001", "IG.CYCLES", "SE.CYCLE", "1")
    etree.SubElement(group, f"{{{XI}}}include", href=str(secret), parse="text", nsmap={"xi": XI})
    path = write(tmp_path, root)

    errors = refused(path)
    assert errors == [(f'{CYCLE_1}/FormData[@FormOID="F.CYCLE"]/ItemGroupData[@ItemGroupOID="IG.CYCLES"]/xi:include',
                       "XInclude is not processed: the file must hold its data itself.")]
    with pytest.raises(CommandError) as caught:
        call_command("import_odm", str(path))
    assert caught.value.returncode == 1
    assert "SECRET-CONTENT" not in capsys.readouterr().err


DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


def _as_bytes(root):
    return DECLARATION + b"\n" + etree.tostring(root, encoding="UTF-8")


def _hostile(demo_xml):
    data = _as_bytes(only(tree(demo_xml), "01-001"))
    group = b'<ItemGroupData ItemGroupOID="IG.CYCLES">'
    dtd = DECLARATION + b'<!DOCTYPE ODM [<!ENTITY e "5"><!ENTITY x SYSTEM "file:///etc/passwd">]>'
    signature = (b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
                 b'<ds:CanonicalizationMethod Algorithm="x"/><ds:SignatureMethod Algorithm="x"/><ds:Reference>'
                 b'<ds:DigestMethod Algorithm="x"/><ds:DigestValue>AA==</ds:DigestValue></ds:Reference>'
                 b'</ds:SignedInfo><ds:SignatureValue>AA==</ds:SignatureValue><ds:Object><xi:include xmlns:xi="'
                 + XI.encode() + b'" href="/etc/passwd" parse="text"/></ds:Object></ds:Signature></ODM>')
    ns = odm.ODM_NAMESPACE.encode()
    return {
        "foreign element": data.replace(group, group + b'<x:y xmlns:x="urn:x"/>', 1),
        "foreign root": b'<x:ODM xmlns:x="urn:x"/>',
        "xinclude as root": b'<xi:include xmlns:xi="' + XI.encode() + b'" href="/etc/passwd"/>',
        "xinclude in a signature": data.replace(b"</ODM>", signature),
        "internal entity": data.replace(DECLARATION, dtd, 1).replace(group, group + b"&e;", 1),
        "entity in a value": data.replace(DECLARATION, dtd, 1).replace(b'Value="', b'Value="&e;', 1),
        "external entity": data.replace(DECLARATION, dtd, 1).replace(group, group + b"&x;", 1),
        "external DTD": data.replace(DECLARATION, DECLARATION + b'<!DOCTYPE ODM SYSTEM "http://127.0.0.1:9/o.dtd">'),
        "entity expansion": (b'<!DOCTYPE ODM [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
                             b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;">]>'
                             b'<ODM xmlns="' + ns + b'">&d;&d;&d;&d;&d;&d;&d;&d;&d;</ODM>'),
        "deep nesting": b'<ODM xmlns="' + ns + b'">' + b"<a>" * 3000 + b"</a>" * 3000 + b"</ODM>",
        "huge text": data.replace(b'Value="', b'Value="' + b"9" * 11_000_000, 1),
        "empty": b"",
        "binary garbage": bytes(range(256)) * 8,
        "wrong encoding": data.replace(b'encoding="UTF-8"', b'encoding="UTF-16"', 1),
        "unknown encoding": data.replace(b'encoding="UTF-8"', b'encoding="x-unknown"', 1),
        "invalid bytes": data.replace(b"IVIG", b"IV\xff\xfeG", 1),
    }


HOSTILE = ["foreign element", "foreign root", "xinclude as root", "xinclude in a signature", "internal entity",
           "entity in a value", "external entity", "external DTD", "entity expansion", "deep nesting",
           "huge text", "empty", "binary garbage", "wrong encoding", "unknown encoding", "invalid bytes"]


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.req("URS-DAT-003")
def test_hostile_markup_is_an_error_list_and_exit_code_1(demo_xml, tmp_path, capsys, case):
    path = tmp_path / "hostile.xml"
    path.write_bytes(_hostile(demo_xml)[case])
    errors = refused(path)
    assert errors and all(where.startswith("/") and message for where, message in errors)
    assert "root:" not in str(errors), "no file is read into the messages"
    with pytest.raises(CommandError) as caught:
        call_command("import_odm", str(path))
    assert caught.value.returncode == 1
    assert "Traceback" not in capsys.readouterr().err


def test_a_file_that_cannot_be_read_is_refused(tmp_path):
    assert refused(tmp_path)[0][1].startswith("The file cannot be read as XML")


@pytest.mark.req("URS-DAT-003")
def test_comments_and_processing_instructions_are_not_data(demo_xml, tmp_path):
    data = _as_bytes(only(tree(demo_xml), "01-001"))
    group = b'<ItemGroupData ItemGroupOID="IG.CYCLES">'
    data = data.replace(DECLARATION, DECLARATION + b'<?xml-stylesheet type="text/xsl" href="odm.xsl"?>', 1)
    data = data.replace(group, group + b"<!-- a comment --><?target data?>", 1)
    path = tmp_path / "annotated.xml"
    path.write_bytes(data)
    import_odm(path)
    assert TreatmentCycle.objects.filter(patient__subject_id="01-001").count() == len(
        tree(data).findall("odm:ClinicalData/odm:SubjectData/odm:StudyEventData[@StudyEventOID='SE.CYCLE']", NS))


def test_schema_errors_name_the_element_among_its_siblings_and_foreign_prefixes(demo_xml, tmp_path):
    root = only(tree(demo_xml), "01-001")
    group = group_of(root, "01-001", "IG.CYCLES", "SE.CYCLE", "1")
    for _ in range(3):
        etree.SubElement(group, f"{{{odm.ODM_NAMESPACE}}}ItemData", Value="1")  # no ItemOID
    errors = refused(write(tmp_path, root))
    group_path = f'{CYCLE_1}/FormData[@FormOID="F.CYCLE"]/ItemGroupData[@ItemGroupOID="IG.CYCLES"]'
    items = len(group.findall("odm:ItemData", NS))
    assert [p for p, _m in errors] == [f"{group_path}/ItemData[{n}]" for n in range(items - 2, items + 1)]


# --- error reporting in linear time ----------------------------------------------------------------------

def _bad_file(demo_xml, kind, n):
    root = only(tree(demo_xml), "01-001")
    if kind == "schema errors among siblings":  # n ItemData without ItemOID in one item group
        group = group_of(root, "01-001", "IG.CYCLES", "SE.CYCLE", "1")
        for _ in range(n):
            etree.SubElement(group, f"{{{odm.ODM_NAMESPACE}}}ItemData", Value="1")
    elif kind == "keyless siblings":  # n ClinicalData of another study (no key attribute: by position)
        clinical = root.find("odm:ClinicalData", NS)
        for _ in range(n):
            other = etree.SubElement(root, clinical.tag, StudyOID="OTHER", MetaDataVersionOID="MDV.1")
            other.text = None
    elif kind == "a subject each":  # n subjects, each with an unknown event
        clinical = root.find("odm:ClinicalData", NS)
        for i in range(n):
            subject = etree.SubElement(clinical, f"{{{odm.ODM_NAMESPACE}}}SubjectData", SubjectKey=f"X-{i}")
            etree.SubElement(subject, f"{{{odm.ODM_NAMESPACE}}}StudyEventData", StudyEventOID="SE.UNKNOWN")
    elif kind == "foreign siblings":
        group = group_of(root, "01-001", "IG.CYCLES", "SE.CYCLE", "1")
        for _ in range(n):
            etree.SubElement(group, "{urn:x}y", nsmap={"x": "urn:x"})
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _work(data):
    """Lines of the importer's own code run to report the file's errors: the work, counted (not
    timed). A loop over the siblings for each error counts each visit."""
    lines = 0
    modules = {module.__file__ for module in (odm_parse, odm_load, odm_verify)}

    def local(frame, event, arg):
        nonlocal lines
        lines += event == "line"
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code.co_filename in modules else None

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        with pytest.raises(OdmImportError) as caught:
            import_odm(data, dry_run=True)
    finally:
        sys.settrace(previous)
    return lines, len(caught.value.errors)


@pytest.mark.parametrize("kind", ["schema errors among siblings", "keyless siblings", "a subject each",
                                  "foreign siblings"])
def test_reporting_n_errors_is_linear_work(demo_xml, kind):
    """The path of each element is computed once, with its siblings indexed once: four times the
    errors is about four times the work, not sixteen (a scan of the siblings for each error)."""
    small, small_errors = _work(_bad_file(demo_xml, kind, 500))
    large, large_errors = _work(_bad_file(demo_xml, kind, 2000))
    assert large_errors >= 4 * small_errors - 10
    assert large / small < 5, f"{small} lines for {small_errors} errors, {large} for {large_errors}"


def test_element_paths_index_each_parents_children_once(demo_xml):
    root = tree(_bad_file(demo_xml, "keyless siblings", 300))
    paths = odm_parse.ElementPaths()
    clinical = root.findall("odm:ClinicalData", NS)
    assert [paths(c) for c in clinical] == [f"/ODM/ClinicalData[{n}]" for n in range(1, len(clinical) + 1)]
    assert paths.children_indexed == len(root)  # the ODM element's children, once


# --- Issue 12, finding 6: typed values and keys are ASCII ------------------------------------

@pytest.mark.parametrize("kind, text", [("integer", "\u0667"), ("integer", "\uff17\uff10"),
                                        ("decimal", "\u0667\u0660.5"), ("decimal", "\U0001d7d5"),
                                        ("date", "\u0662\u0660\u0662\u0665-03-10"),
                                        ("time", "\u0660\u0669:00")])
def test_typed_values_in_other_scripts_digits_are_refused(kind, text):
    from types import SimpleNamespace

    from exchange.imports.odm.parse import INTEGER, _parse_value

    with pytest.raises(ValueError):
        _parse_value(SimpleNamespace(type=kind), text)
    assert not INTEGER.match("\u0661") and not INTEGER.match("1\n")


# --- issue 17: coded adverse events and concomitant medications ------------------------------------

def _coded_event(demo_xml):
    root = only(tree(demo_xml), "01-003")
    return root, root.find(".//odm:ItemGroupData[@ItemGroupOID='IG.ADVERSE_EVENTS']", NS)


def test_a_coded_event_is_coded_here_with_the_same_term(demo_xml, tmp_path):
    root, event = _coded_event(demo_xml)
    code = item_value(event, "IT.ADVERSE_EVENTS.MEDDRA_LLT_CODE")
    assert code and item_value(event, "IT.ADVERSE_EVENTS.CODING_DICTIONARY") == "CTCAE v5.0"
    assert import_odm(write(tmp_path, root)).warnings == []
    stored = AdverseEvent.objects.get()
    assert (stored.coded_term.llt_code, stored.meddra_llt_code, stored.meddra_source) == (code, code, "CTCAE v5.0")


def test_a_dictionary_not_loaded_here_codes_with_the_one_that_is_with_a_warning(demo_xml, tmp_path):
    root, event = _coded_event(demo_xml)
    code = item_value(event, "IT.ADVERSE_EVENTS.MEDDRA_LLT_CODE")
    set_item(event, "IT.ADVERSE_EVENTS.CODING_DICTIONARY", "MedDRA 27.1")
    result = import_odm(write(tmp_path, root))
    assert [w.message for w in result.warnings] == [
        f"MedDRA 27.1 is not loaded here: LLT {code} is coded with CTCAE v5.0."]
    assert AdverseEvent.objects.get().meddra_source == "CTCAE v5.0"


def test_an_llt_code_no_dictionary_holds_is_imported_uncoded_with_a_warning(demo_xml, tmp_path):
    root, event = _coded_event(demo_xml)
    set_item(event, "IT.ADVERSE_EVENTS.MEDDRA_LLT_CODE", "99999999")
    set_item(event, "IT.ADVERSE_EVENTS.MEDDRA_LLT", "Something else")
    result = import_odm(write(tmp_path, root))
    assert [w.message for w in result.warnings] == [
        "No dictionary loaded here holds the LLT code 99999999 (CTCAE v5.0): the event is imported uncoded, "
        "to be coded here."]
    stored = AdverseEvent.objects.get()
    assert stored.coded_term_id is None and stored.meddra_llt_code == "" and stored.term


def _a_medication(demo_xml):
    root = tree(demo_xml)
    group = root.find(".//odm:ItemGroupData[@ItemGroupOID='IG.MEDICATIONS']", NS)
    subject = group.getparent().getparent().getparent().get("SubjectKey")
    root = only(root, subject)
    return root, root.find(".//odm:ItemGroupData[@ItemGroupOID='IG.MEDICATIONS']", NS)


def test_medications_are_imported_through_their_service_with_derived_facts(demo_xml, tmp_path):
    root, group = _a_medication(demo_xml)
    result = import_odm(write(tmp_path, root))
    count = len(root.findall(".//odm:ItemGroupData[@ItemGroupOID='IG.MEDICATIONS']", NS))
    assert result.counts["medications"] == ConcomitantMedication.objects.count() == count
    first = ConcomitantMedication.objects.get(drug_name=item_value(group, "IT.MEDICATIONS.DRUG_NAME"))
    assert first.atc_name == (item_value(group, "IT.MEDICATIONS.ATC_NAME") or "")
    assert first.history.get().history_change_reason == "Imported from ODM file import.xml"


@pytest.mark.req("URS-DAT-002")
def test_a_medications_derived_flag_that_disagrees_is_refused(demo_xml, tmp_path):
    root, group = _a_medication(demo_xml)
    given = item_value(group, "IT.MEDICATIONS.STARTED_DURING_STUDY")
    set_item(group, "IT.MEDICATIONS.STARTED_DURING_STUDY", "false" if given == "true" else "true")
    [(path, message)] = refused(write(tmp_path, root))
    assert path.endswith('/ItemData[@ItemOID="IT.MEDICATIONS.STARTED_DURING_STUDY"]')
    assert message.startswith("The file gives ") and "the rules compute" in message


def test_a_medication_the_rules_refuse_is_an_error_on_its_item(demo_xml, tmp_path):
    root, group = _a_medication(demo_xml)
    set_item(group, "IT.MEDICATIONS.START_DATE", "2099-01-01")
    errors = refused(write(tmp_path, root))
    assert any(path.endswith('/ItemData[@ItemOID="IT.MEDICATIONS.START_DATE"]') for path, _ in errors), errors
