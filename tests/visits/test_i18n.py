"""The visits in French (issue 16): the record-cycle page shows and accepts dd/mm/yyyy dates
and decimal commas; the live preview parses what the fields show and answers in the page's
language; what is stored (values, deviation descriptions) is the same whichever language saved it,
and the screens translate the stored descriptions."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import translation

from tests.patients.factories import PatientFactory
from tests.visits.test_views import cycle_post
from visits import rules
from visits.models import Assessment, Infusion, ProtocolDeviation, TreatmentCycle

pytestmark = pytest.mark.django_db

FR = {"HTTP_ACCEPT_LANGUAGE": "fr"}


@pytest.fixture(autouse=True)
def english_afterwards():
    """A French request leaves French active in the thread (the middleware activates the request's
    language): the next test, which renders forms outside a request, must start in English."""
    yield
    translation.activate("en")


def french(data):
    """``data`` (a :func:`cycle_post`) as a French user types it: dd/mm/yyyy dates, decimal commas."""
    out = {}
    for name, value in data.items():
        if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
            value = date.fromisoformat(value).strftime("%d/%m/%Y")
        elif isinstance(value, str) and name.endswith(("_kg", "_cm", "_g", "_ml", "_h", "_pct", "_l")) and "." in value:
            value = value.replace(".", ",")
        out[name] = value
    return out


def english_and_french(**kwargs):
    """The same cycle as an English and a French user post it (weight 72.5 kg; day 2 under-dosed,
    its rate above the limit: two deviations with decimals in their descriptions)."""
    data = cycle_post(weight="72.5", day1_dose="72.5", day2_dose="60.5", **kwargs)
    data["day2-max_rate_ml_per_h"] = "250.5"
    data["assessment-ck_u_per_l"] = "2400.5"
    return data, french(data)


@pytest.fixture
def patients(site_a):
    return (PatientFactory(site=site_a, subject_id="01-001", sex="M"),
            PatientFactory(site=site_a, subject_id="01-002", sex="M"))


def create_url(patient):
    return reverse("visits:cycle_create", args=[patient.pk])


def stored(patient):
    """Everything entered and derived for the patient's cycle, and its deviation log, without keys."""
    cycle = TreatmentCycle.objects.get(patient=patient)
    skip = {"id", "patient", "cycle", "created_at", "updated_at", "created_by", "updated_by"}

    def values(instance):
        return {f.name: getattr(instance, f.name) for f in instance._meta.concrete_fields if f.name not in skip}

    return {
        "cycle": values(cycle),
        "assessment": values(Assessment.objects.get(cycle=cycle)),
        "infusions": [values(i) for i in Infusion.objects.filter(cycle=cycle).order_by("day")],
        "deviations": sorted((d.kind, d.day, d.description) for d in ProtocolDeviation.objects.filter(cycle=cycle)),
    }


@pytest.mark.req("URS-USR-001")
def test_a_french_post_stores_what_the_english_post_stores(client_for, clinician, patients):
    english, french_data = english_and_french()
    assert french_data["cycle-weight_kg"] == "72,5" and french_data["cycle-start_date"] == "17/03/2025"
    client = client_for(clinician)
    assert client.post(create_url(patients[0]), english).status_code == 302
    response = client.post(create_url(patients[1]), french_data, **FR)
    assert response.status_code == 302, [f.errors for f in response.context["entry"].forms.values()]
    first, second = stored(patients[0]), stored(patients[1])
    assert second["cycle"]["weight_kg"] == Decimal("72.5")
    assert second["cycle"]["start_date"] == date(2025, 3, 17)
    assert second["infusions"][1]["max_rate_ml_per_h"] == Decimal("250.5")
    assert first == second
    # The descriptions are the English source text, with dot decimals and ISO dates.
    kinds = {kind for kind, _, _ in second["deviations"]}
    assert kinds == {"underdose", "rate"}
    assert any("60.5 g given, 72.5 g prescribed" in text for _, _, text in second["deviations"])


def test_the_french_flash_message_translates_the_stored_descriptions(client_for, clinician, patients):
    _, french_data = english_and_french()
    response = client_for(clinician).post(create_url(patients[1]), french_data, follow=True, **FR)
    html = response.content.decode()
    assert "Cure 1 enregistrée avec 2 écarts au protocole" in html
    assert "J2 : 60,5 g administrés, 72,5 g prescrits" in html


def test_a_french_correction_never_re_describes_an_open_deviation(client_for, clinician, patients):
    patient = patients[0]
    client = client_for(clinician)
    english, french_data = english_and_french()
    client.post(create_url(patient), english)
    before = list(ProtocolDeviation.objects.order_by("pk").values_list("kind", "description"))
    cycle = TreatmentCycle.objects.get()
    french_data.update({
        "cycle-expected_version": cycle.version, "assessment-expected_version": cycle.assessment.version,
        "day1-expected_version": Infusion.objects.get(day=1).version,
        "day2-expected_version": Infusion.objects.get(day=2).version,
        "assessment-ck_u_per_l": "2100,5", "change_reason": "Résultat du laboratoire corrigé",
    })
    response = client.post(reverse("visits:cycle_update", args=[patient.pk, 1]), french_data, **FR)
    assert response.status_code == 302, [f.errors for f in response.context["entry"].forms.values()]
    assert Assessment.objects.get().ck_u_per_l == Decimal("2100.5")
    # No new deviation row: the descriptions computed for the French user are the stored ones.
    assert list(ProtocolDeviation.objects.order_by("pk").values_list("kind", "description")) == before


def test_record_cycle_page_in_french(client_for, clinician, patients):
    patient = patients[0]
    client = client_for(clinician)
    english, _ = english_and_french()
    client.post(create_url(patient), english)
    client.get(reverse("visits:cycle_update", args=[patient.pk, 1]))  # English first: its fragments are cached
    html = client.get(reverse("visits:cycle_update", args=[patient.pk, 1]), **FR).content.decode()
    assert "Cure 1 de 01-001" in html
    assert "Évaluation avant traitement" in html and "Enregistrer la cure" in html
    assert "Motif de la modification" in html
    assert 'placeholder="JJ/MM/AAAA"' in html and "YYYY-MM-DD" not in html
    # The existing cycle's values as a French user reads and types them.
    assert 'name="cycle-weight_kg" value="72,5"' in html
    assert 'name="cycle-start_date" value="17/03/2025"' in html
    assert 'name="day2-max_rate_ml_per_h" value="250,5"' in html
    assert 'inputmode="decimal"' in html
    weight = re.search(r'<input[^>]*name="cycle-weight_kg"[^>]*>', html).group(0)
    assert 'type="text"' in weight and "step=" not in weight and 'inputmode="decimal"' in weight
    # Field labels and choices come from the catalogue; the stored deviations are translated.
    assert "poids (kg)" in html.lower() and "Poids réel" in html
    assert "Sous-dosage" in html and "J2 : 60,5 g administrés, 72,5 g prescrits" in html


def test_new_cycle_page_in_french(client_for, clinician, patients):
    html = client_for(clinician).get(create_url(patients[0]), **FR).content.decode()
    assert "Saisir la cure 1 de 01-001" in html
    assert "Perfusion de J1" in html and "(laisser vide si non administrée)" in html
    assert "Première cure : pas de date prévue." in html
    assert 'placeholder="JJ/MM/AAAA"' in html


def test_timeline_and_deviation_log_in_french(client_for, clinician, patients):
    patient = patients[0]
    client = client_for(clinician)
    english, _ = english_and_french()
    client.post(create_url(patient), english)
    timeline = client.get(reverse("visits:timeline", args=[patient.pk]), **FR).content.decode()
    assert "Chronologie de 01-001" in timeline and "Saisir une cure" in timeline
    assert "17/03/2025" in timeline and "2025-03-17" not in timeline
    assert "72,5" in timeline
    assert "Débit de perfusion au-dessus de la limite" in timeline
    log = client.get(reverse("visits:deviation_list"), **FR).content.decode()
    assert "Écarts au protocole" in log and "2 écarts" in log
    assert "J2 : débit maximal 250,5 mL/h" in log
    detail = client.get(reverse("visits:cycle_detail", args=[patient.pk, 1]), **FR).content.decode()
    assert "lecture seule" in detail and "J2 : 60,5 g administrés" in detail


def preview(client, patient, language=None, **params):
    extra = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    return client.get(reverse("visits:cycle_preview", args=[patient.pk]), params, **extra)


def test_preview_in_french_reads_commas_and_answers_in_french(client_for, clinician, patients):
    client = client_for(clinician)
    patient = patients[0]
    typed = dict(weight_kg="72,5", dosing_basis="actual", start_date="17/03/2025", day1_date="17/03/2025",
                 day2_date="20/03/2025", day1_dose_g="72,5", day1_rate="150", day2_dose_g="60,5",
                 day2_rate="250,5")
    response = preview(client, patient, "fr", **typed)
    assert response.status_code == 200, response.content
    fr = response.json()
    assert fr["dosing_weight_kg"] == "72,5" and fr["prescribed_daily_dose_g"] == "72,5"
    assert fr["prescribed_cycle_dose_g"] == "145,0"
    assert fr["rate_limit_ml_per_kg_min"] == "0,04" and fr["dose_tolerance_pct"] == "5,0"
    assert fr["days"]["2"]["dose_status"] == "under" and fr["days"]["2"]["dose_difference_pct"] == "-16,6"
    assert fr["days"]["2"]["rate_within_limit"] is False and "," in fr["days"]["2"]["rate_ml_per_kg_min"]
    # Day 2's date: the field's own format, for the script to fill in.
    assert fr["day2"]["expected_date"] == "18/03/2025" and fr["day2"]["date"] == "20/03/2025"
    assert fr["day2"]["message"] == "J2 administré 3 jours après J1 ; les deux jours doivent être consécutifs."

    # The same values in English (dots, ISO dates): the same judgement, in English formats.
    en = preview(client, patient, "en", **{k: v.replace(",", ".") for k, v in typed.items()
                                          if not k.endswith("date")},
                 start_date="2025-03-17", day1_date="2025-03-17", day2_date="2025-03-20").json()
    assert en["dosing_weight_kg"] == "72.5" and en["day2"]["expected_date"] == "2025-03-18"
    assert en["days"]["2"]["dose_difference_pct"] == "-16.6"
    assert en["day2"]["message"] == "Day 2 given 3 days after day 1; the two days must be consecutive."
    assert {k: v for k, v in en.items() if not isinstance(v, (str, dict))} == \
        {k: v for k, v in fr.items() if not isinstance(v, (str, dict))}


def test_preview_refuses_a_comma_in_english_and_other_scripts_in_french(client_for, clinician, patients):
    client = client_for(clinician)
    assert preview(client, patients[0], "en", weight_kg="72,5").status_code == 400
    assert preview(client, patients[0], "en", start_date="17/03/2025").status_code == 400
    assert preview(client, patients[0], "fr", weight_kg="٧٢,٥").status_code == 400
    refused = preview(client, patients[0], "fr", weight_kg="abc").json()
    assert refused["errors"]["weight_kg"][0]["message"] == "Saisissez un nombre."


def test_window_message_in_french(client_for, clinician, patients):
    patient = patients[0]
    client = client_for(clinician)
    client.post(create_url(patient), cycle_post())
    data = preview(client, patient, "fr", cycle="2", start_date="19/05/2025").json()
    assert data["schedule"]["planned_date"] == "14/04/2025"
    assert data["schedule"]["within_window"] is False and data["schedule"]["offset_days"] == 35
    assert data["schedule"]["message"] == (
        "Cure débutée le 19/05/2025, à +35 jours de la date prévue du 14/04/2025 (fenêtre 28 ± 7 jours).")


def test_rule_messages_follow_the_language_and_its_formats():
    violations = lambda: rules.cycle_violations(  # noqa: E731
        today=date(2025, 6, 1), start_date=date(2025, 3, 1), weight_kg=Decimal("400"), height_cm=None,
        dosing_basis="actual", enrolment_date=None, withdrawal_date=None, previous_start=date(2025, 3, 17),
        next_start=None)
    with translation.override("fr"):
        fr = {v.code: v.message for v in violations()}
    with translation.override("en"):
        en = {v.code: v.message for v in violations()}
    assert fr["before_previous_cycle"] == "La cure doit débuter après la cure précédente (17/03/2025)."
    assert en["before_previous_cycle"] == "The cycle must start after the previous cycle (2025-03-17)."
    assert fr["implausible_weight"] == "Le poids doit être supérieur à 0 et au plus de 350 kg."


def test_deviation_descriptions_are_english_in_every_language_and_translated_for_the_screen():
    with translation.override("fr"):
        deviation = rules.dose_deviation(day=2, given_g=Decimal("60.5"), prescribed_g=Decimal("72.5"))
        window = rules.window_deviation(start=date(2025, 5, 19), previous_start=date(2025, 3, 17))
        assert deviation.description == "Day 2: 60.5 g given, 72.5 g prescribed (-16.6 %; tolerance 5.0 %)."
        assert window.description.startswith("Cycle started 2025-05-19, +35 days from the planned 2025-04-14")
        assert rules.deviation_text(deviation.description) == deviation.text() == (
            "J2 : 60,5 g administrés, 72,5 g prescrits (-16,6 % ; tolérance 5,0 %).")
        # A description no template reads (an older wording) is shown as stored.
        assert rules.deviation_text("Day 2: something else.") == "Day 2: something else."
    with translation.override("en"):
        assert rules.deviation_text(deviation.description) == deviation.description
        assert rules.deviation_text(window.description) == window.description
