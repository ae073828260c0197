"""The trial in French, in a real browser (issue 16; see conftest.py).

A clinician whose stored language is French (``accounts.Profile.language``) enrols a
patient with dates typed dd/mm/yyyy, records the diagnosis, records cycle 1 with
decimal commas ("72,5" kg, "72,5" g) and reports an adverse event. The pages are
French (``<html lang="fr">``, ``Content-Language: fr``, base.html's words, the
JJ/MM/AAAA placeholder); what is stored is what the English screens store
(``Decimal("72.5")``, ISO dates). An English clinician then enters the same data for a
second patient, in English, and the cohort exports (CSV tables and SDTM), downloaded by
a coordinator who reads French, carry identical values for both patients once the
subject and record ids are left out.

The pages are driven by field names, ids and ``href``s, never by their (changing)
wording: only base.html's French words, which are settled, are asserted. Full-page
screenshots of the French pages, at 1280 and 820 px wide, go to ``screens/`` at the
top of the work tree (not committed).
"""

import csv
import io
import re
import zipfile
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from accounts import languages
from patients.models import Diagnosis, Patient
from safety.models import AdverseEvent
from visits.forms import GRADE_FIELDS
from visits.models import Infusion, TreatmentCycle

from .browser import PASSWORD, BrowserSession

pytestmark = [pytest.mark.django_db(transaction=True, serialized_rollback=True),
              pytest.mark.usefixtures("restore_migrated_data")]

SCREENS = Path(__file__).resolve().parents[2] / "screens"
SCREEN_SIZES = ({"width": 1280, "height": 900}, {"width": 820, "height": 1180})
#: base.html's French words (already translated; the rest of the pages may still change).
FRENCH_NAV = ("Se déconnecter", "Patients", "Accueil", "Inclure")
SUBMIT = "#main form[method='post'] [type='submit']"
#: Columns that name the subject, the site or a record, or say when a row was written:
#: the only ones allowed to differ between the two patients.
ID_COLUMNS = {"subject_id", "site", "ae_id", "entered_at", "detected_at",
              "USUBJID", "SUBJID", "SITEID", "AESPID"}


def day(days_ago):
    return timezone.localdate() - timedelta(days=days_ago)


#: The same casebook for both patients: what the clinician reads off the source documents.
DATES = {
    "consent_date": day(20), "enrolment_date": day(14), "symptom_onset_date": day(200),
    "diagnosis_date": day(40), "start_date": day(7), "assessment_date": day(8),
    "day1": day(7), "day2": day(6), "onset_date": day(6), "end_date": day(5),
}
DECIMALS = {  # typed as written here in English, with a decimal comma in French
    "cycle-weight_kg": "72.5", "cycle-height_cm": "165.5",
    "assessment-ck_u_per_l": "2400", "assessment-ck_uln_u_per_l": "200.5",
    "assessment-physician_global": "4.5", "assessment-haq": "0.75",
    "concentration_pct": "10", "volume_ml": "725", "dose_g": "72.5", "max_rate_ml_per_h": "150",
}


class Typist:
    """How a user of one language types dates and decimals into the forms."""

    def __init__(self, language):
        self.language = language

    def date(self, value):
        return value.strftime("%d/%m/%Y") if self.language == "fr" else value.isoformat()

    def datetime(self, value):
        return value.strftime("%d/%m/%Y %H:%M") if self.language == "fr" else value.strftime("%Y-%m-%d %H:%M")

    def decimal(self, value):
        return value.replace(".", ",") if self.language == "fr" else value


@pytest.fixture
def open_in(browser, live_server):
    """``open_in(user, language)``: ``user``'s stored language set to ``language``, then a
    fresh browser context logged in through the login form, driven by its field ids (the
    login page and the navbar are in the user's language once logged in). Any CSP
    violation, JS error or HTTP error fails the test, as with ``open_as``."""
    sessions = []

    def open_session(user, language):
        languages.choose(user, language)
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        session = BrowserSession(browser, live_server.url, user.username)
        sessions.append(session)
        session.documents = []  # (url, headers) of each page shown, the last one last
        session.page.on("response", lambda response, session=session: _keep_document(session, response))
        page = session.page
        page.goto(reverse("accounts:login"))
        page.locator("#id_username").fill(user.username)
        page.locator("#id_password").fill(PASSWORD)
        page.locator(SUBMIT).click()
        page.locator(f"form[action='{reverse('accounts:logout')}'] [type='submit']").wait_for()
        return session

    yield open_session
    for session in sessions:
        if not session.checked:
            session.check_pages()
    problems = [p for s in sessions if not s.checked for p in s.problems]
    for session in sessions:
        session.context.close()
    if problems:
        pytest.fail("the browser reported problems:\n" + "\n".join(problems))


def _keep_document(session, response):
    if response.request.resource_type == "document" and response.frame == session.page.main_frame:
        session.documents.append((response.url, response.headers))


def assert_french(session, *, date_fields=(), words=FRENCH_NAV):
    """The page shown is French: its language, its header and base.html's words; its date
    fields ask for JJ/MM/AAAA."""
    page = session.page
    page.wait_for_load_state("load")
    url, headers = session.documents[-1]
    assert headers.get("content-language") == "fr", (url, headers.get("content-language"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    navbar = page.locator("header nav")
    for word in words:
        expect(navbar).to_contain_text(word)
    for name in date_fields:
        expect(page.locator(f"[name='{name}']")).to_have_attribute("placeholder", "JJ/MM/AAAA")


def screenshots(session, name):
    """Full-page screenshots of the page shown at 1280 and 820 px wide: ``screens/<name>-<width>.png``."""
    SCREENS.mkdir(exist_ok=True)
    page = session.page
    size = page.viewport_size
    for viewport in SCREEN_SIZES:
        page.set_viewport_size(viewport)
        page.screenshot(path=str(SCREENS / f"{name}-{viewport['width']}.png"), full_page=True)
    page.set_viewport_size(size)


def submit(page, url_pattern):
    """Click the form's one submit button and wait for the page it leads to (another URL,
    matching ``url_pattern``); a refused form fails with its error messages, whatever their
    language."""
    form_url = page.url
    page.locator(SUBMIT).click()
    try:
        page.wait_for_url(lambda url: url != form_url and re.search(url_pattern, url))
    except PlaywrightTimeoutError:
        errors = page.locator("#error-summary, .invalid-feedback, .alert-danger, .errorlist").all_inner_texts()
        raise AssertionError(f"the form at {page.url} was not saved: {errors}") from None
    expect(page.locator("#main [role='alert']").first).to_be_visible()  # the success message


def enter_casebook(session, *, subject_id, site, language, soft_failures):
    """Enrol, diagnose, record cycle 1 (two infusion days) and report an adverse event,
    as ``session``'s user in ``language``, through the pages' fields. Returns the patient."""
    page = session.page
    typed = Typist(language)
    french = language == "fr"
    shot = (lambda name: screenshots(session, name)) if french else (lambda name: None)

    # Enrol (the navbar's link).
    page.locator(f"header nav a[href='{reverse('patients:patient_create')}']").click()
    if french:
        assert_french(session, date_fields=("consent_date", "enrolment_date", "symptom_onset_date"))
    page.locator("[name='subject_id']").fill(subject_id)
    page.locator("[name='site']").select_option(str(site.pk))
    page.locator("[name='sex']").select_option("F")
    page.locator("[name='birth_year']").fill("1968")
    for name in ("consent_date", "enrolment_date", "symptom_onset_date"):
        page.locator(f"[name='{name}']").fill(typed.date(DATES[name]))
    page.locator("[name='active_myopathy']").check()
    page.locator("[name='status']").select_option("on_study")
    if french:
        shot("fr-1-enrol")
    submit(page, r"/patients/\d+/$")
    patient = Patient.objects.get(subject_id=subject_id)
    if french:
        assert_french(session)
        shot("fr-2-patient")

    # The diagnosis.
    page.locator(f"#main a[href='{reverse('patients:diagnosis_edit', args=[patient.pk])}']").click()
    if french:
        assert_french(session, date_fields=("diagnosis_date",))
    page.locator("[name='kind']").select_option("DM")
    page.locator("[name='diagnosis_date']").fill(typed.date(DATES["diagnosis_date"]))
    for name in ("bp_weakness", "bp_enzymes", "bp_emg", "heliotrope_rash", "gottron_papules",
                 "upper_limb_weakness", "lower_limb_weakness"):
        page.locator(f"[name='{name}']").check()
    if french:
        shot("fr-3-diagnosis")
    submit(page, rf"/patients/{patient.pk}/$")

    # Cycle 1: the timeline, then its "record cycle" link.
    page.locator(f"#main a[href='{reverse('visits:timeline', args=[patient.pk])}']").first.click()
    page.locator(f"#main a[href='{reverse('visits:cycle_create', args=[patient.pk])}']").first.click()
    if french:
        assert_french(session, date_fields=("cycle-start_date", "assessment-assessment_date",
                                             "day1-infusion_date", "day2-infusion_date"))
    page.locator("[name='cycle-start_date']").fill(typed.date(DATES["start_date"]))
    page.locator("[name='cycle-weight_kg']").fill(typed.decimal(DECIMALS["cycle-weight_kg"]))
    page.locator("[name='cycle-height_cm']").fill(typed.decimal(DECIMALS["cycle-height_cm"]))
    page.locator("[name='cycle-dosing_basis']").select_option("actual")
    expected_preview = typed.decimal("72.5")
    try:  # the dose preview (static/js/cycle_form.js) reads the weight as typed
        expect(page.locator("#prescribed-daily")).to_have_text(expected_preview, timeout=5_000)
    except AssertionError as error:
        soft_failures.append(f"{language}: the dose preview did not show {expected_preview!r} for a weight "
                             f"typed {typed.decimal('72.5')!r}: {error}")
    page.locator("[name='assessment-assessment_date']").fill(typed.date(DATES["assessment_date"]))
    page.locator("[name='assessment-mmt_scale']").select_option("kendall")
    for name in GRADE_FIELDS:
        page.locator(f"[name='assessment-{name}']").fill("7")
    for name in ("assessment-ck_u_per_l", "assessment-ck_uln_u_per_l", "assessment-physician_global",
                 "assessment-haq"):
        page.locator(f"[name='{name}']").fill(typed.decimal(DECIMALS[name]))
    for number in (1, 2):
        prefix = f"day{number}-"
        page.locator(f"[name='{prefix}infusion_date']").fill(typed.date(DATES[f"day{number}"]))
        page.locator(f"[name='{prefix}product']").fill("Polyvalent IVIG 10 %")
        page.locator(f"[name='{prefix}lot']").fill("LOT-FR-EN-1")
        for name in ("concentration_pct", "volume_ml", "dose_g", "max_rate_ml_per_h"):
            page.locator(f"[name='{prefix}{name}']").fill(typed.decimal(DECIMALS[name]))
    if french:
        shot("fr-4-cycle")
    submit(page, rf"/patients/{patient.pk}/timeline/")
    if french:
        assert_french(session)
        shot("fr-5-timeline")

    # The adverse event: a grade 1 reaction after day 1's infusion.
    infusion = Infusion.objects.get(cycle__patient=patient, cycle__number=1, day=1)
    page.locator(f"#main a[href='{reverse('safety:ae_create', args=[patient.pk])}']").first.click()
    if french:
        assert_french(session, date_fields=("onset_date", "end_date"))
    page.locator("[name='term']").fill("Headache")
    page.locator("[name='description']").fill("Frontal headache 6 h after the infusion; paracetamol.")
    page.locator("[name='infusion']").select_option(str(infusion.pk))
    page.locator("[name='onset_date']").fill(typed.date(DATES["onset_date"]))
    page.locator("[name='end_date']").fill(typed.date(DATES["end_date"]))
    page.locator("[name='aware_at']").fill(typed.datetime(datetime.combine(DATES["onset_date"], time(10, 30))))
    page.locator("[name='grade']").select_option("1")
    page.locator("[name='relatedness']").select_option("probable")
    page.locator("[name='action_taken']").select_option("rate_reduced")
    page.locator("[name='outcome']").select_option("recovered")
    if french:
        shot("fr-6-adverse-event")
    submit(page, rf"/patients/{patient.pk}/")
    if french:
        assert_french(session)
        shot("fr-7-after-adverse-event")
    return patient


def stored_text(table, column, pk):
    """A column as the database holds it, as text (ISO 8601 for a date)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT CAST({connection.ops.quote_name(column)} AS TEXT) FROM "  # noqa: S608 - test names
                       f"{connection.ops.quote_name(table)} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def assert_stored_like_english(patient):
    """What the French screens stored: the same Python values and ISO dates as English ones."""
    patient.refresh_from_db()
    for name in ("consent_date", "enrolment_date", "symptom_onset_date"):
        assert getattr(patient, name) == DATES[name]
        assert stored_text(Patient._meta.db_table, name, patient.pk) == DATES[name].isoformat()
    diagnosis = Diagnosis.objects.get(patient=patient)
    assert (diagnosis.kind, diagnosis.diagnosis_date) == ("DM", DATES["diagnosis_date"])
    cycle = TreatmentCycle.objects.select_related("assessment").get(patient=patient, number=1)
    assert cycle.weight_kg == Decimal("72.5") and cycle.height_cm == Decimal("165.5")
    assert stored_text(TreatmentCycle._meta.db_table, "start_date", cycle.pk) == DATES["start_date"].isoformat()
    assessment = cycle.assessment
    assert (assessment.ck_uln_u_per_l, assessment.physician_global, assessment.haq) == (
        Decimal("200.5"), Decimal("4.5"), Decimal("0.75"))
    infusions = list(cycle.infusions.order_by("day").values_list("day", "infusion_date", "dose_g", "volume_ml"))
    assert infusions == [(1, DATES["day1"], Decimal("72.5"), Decimal("725")),
                         (2, DATES["day2"], Decimal("72.5"), Decimal("725"))]
    event = AdverseEvent.objects.get(patient=patient)
    assert (event.term, event.onset_date, event.end_date, event.grade, event.relatedness) == (
        "Headache", DATES["onset_date"], DATES["end_date"], 1, "probable")
    assert timezone.localtime(event.aware_at).replace(tzinfo=None) == datetime.combine(
        DATES["onset_date"], time(10, 30))
    assert stored_text(AdverseEvent._meta.db_table, "onset_date", event.pk) == DATES["onset_date"].isoformat()


def download(session, format_name):
    page = session.page
    with page.expect_download() as download_info:
        page.locator(f"#main a[href$='?format={format_name}']").click()
    return Path(download_info.value.path()).read_bytes()


def rows_by_subject(archive_bytes, key):
    """{table: {subject: [row without the id columns, ...]}} of a zip of CSV files."""
    tables = {}
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        for name in archive.namelist():
            if not name.endswith(".csv"):
                continue
            reader = csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")))
            if key not in (reader.fieldnames or ()):
                continue  # the data dictionary: no subject rows
            table = tables.setdefault(name, {})
            for row in reader:
                table.setdefault(row[key], []).append(
                    {column: value for column, value in row.items() if column not in ID_COLUMNS})
    return tables


def odm_items_by_subject(xml_bytes):
    """{subject key: [(event, form, item group, item, value), ...]} of an ODM file's clinical
    data, without the id items and the audit records (who, when, which record)."""
    subjects = {}
    for subject in ElementTree.fromstring(xml_bytes).iter():
        if not subject.tag.endswith("}SubjectData"):
            continue
        items = subjects.setdefault(subject.get("SubjectKey"), [])
        for event in subject:
            for form in (f for f in event if f.tag.endswith("}FormData")):
                for group in (g for g in form if g.tag.endswith("}ItemGroupData")):
                    # An adverse event's repeat key is its ae_id: an id.
                    repeat = None if group.get("ItemGroupOID") == "IG.ADVERSE_EVENTS" else group.get(
                        "ItemGroupRepeatKey")
                    for item in (i for i in group if i.tag.endswith("}ItemData")):
                        if item.get("ItemOID").rsplit(".", 1)[-1].lower() in ID_COLUMNS:
                            continue
                        items.append((event.get("StudyEventOID"), event.get("StudyEventRepeatKey"),
                                      form.get("FormOID"), group.get("ItemGroupOID"),
                                      repeat, item.get("ItemOID"), item.get("Value")))
    return subjects


@pytest.mark.req("URS-USR-001")
def test_a_french_clinician_enters_the_same_data_as_an_english_one(
        open_in, clinician_b, clinician, coordinator, site_a, site_b):
    soft_failures = []

    # In French, at site 02.
    fr = open_in(clinician_b, "fr")
    assert_french(fr)
    french_patient = enter_casebook(fr, subject_id="02-001", site=site_b, language="fr",
                                    soft_failures=soft_failures)
    assert_stored_like_english(french_patient)
    fr.page.goto(reverse("safety:ae_list"))
    assert_french(fr)
    screenshots(fr, "fr-8-adverse-events")

    # The same source data in English, at site 01.
    en = open_in(clinician, "en")
    expect(en.page.locator("html")).to_have_attribute("lang", "en")
    english_patient = enter_casebook(en, subject_id="01-001", site=site_a, language="en",
                                     soft_failures=soft_failures)
    assert_stored_like_english(english_patient)

    # The exports, downloaded by a coordinator who reads French: values in the source
    # language, identical for both patients apart from their ids.
    coord = open_in(coordinator, "fr")
    coord.page.locator(f"header nav a[href='{reverse('exchange:exports')}']").click()
    assert_french(coord, words=("Se déconnecter", "Patients", "Exports"))
    screenshots(coord, "fr-9-exports")
    for format_name, key, expected_tables in (
            ("csv", "subject_id", {"patients.csv", "diagnoses.csv", "cycles.csv", "assessments.csv",
                                   "infusions.csv", "adverse_events.csv"}),
            ("sdtm", "USUBJID", {"dm.csv", "mh.csv", "ex.csv", "vs.csv", "lb.csv", "ft.csv", "ae.csv"})):
        archive = download(coord, format_name)
        tables = rows_by_subject(archive, key)
        french_key, english_key = ("02-001", "01-001") if key == "subject_id" else (
            "IVIG-PM-DM-02-001", "IVIG-PM-DM-01-001")
        with_rows = {name for name, table in tables.items() if table.get(french_key)}
        assert expected_tables <= with_rows, (format_name, expected_tables - with_rows)
        for name, table in tables.items():
            assert table.get(french_key) == table.get(english_key), (format_name, name)
        if format_name == "csv":
            with zipfile.ZipFile(io.BytesIO(archive)) as files:  # the data dictionary's labels: English
                assert "dates are ISO 8601 dates" in files.read("data_dictionary.csv").decode("utf-8-sig")
            cycle = tables["cycles.csv"][french_key][0]
            assert (cycle["start_date"], cycle["weight_kg"]) == (DATES["start_date"].isoformat(), "72.5")
            assert [row["dose_g"] for row in tables["infusions.csv"][french_key]] == ["72.5", "72.5"]
            event = tables["adverse_events.csv"][french_key][0]
            assert (event["term"], event["relatedness"], event["onset_date"]) == (
                "Headache", "probable", DATES["onset_date"].isoformat())
        else:
            event = tables["ae.csv"][french_key][0]
            assert (event["AEREL"], event["AESTDTC"]) == ("PROBABLE/LIKELY", DATES["onset_date"].isoformat())

    odm_xml = download(coord, "odm")
    # The metadata too stays in the source language, whoever downloads.
    assert b'<TranslatedText xml:lang="en">Event term (verbatim)</TranslatedText>' in odm_xml
    odm = odm_items_by_subject(odm_xml)
    assert odm["02-001"] == odm["01-001"]
    assert ("IT.CYCLES.WEIGHT_KG", "72.5") in {item[-2:] for item in odm["02-001"]}

    # Every problem at once: the preview's, then what each browser reported (CSP, JS
    # errors, HTTP errors, layout and accessibility of every page at tablet size).
    problems = list(soft_failures)
    for session in (fr, en, coord):
        session.check_pages()
        session.checked = True
        problems.extend(f"{session.name}: {problem}" for problem in session.problems)
    assert not problems, "\n".join(problems)
