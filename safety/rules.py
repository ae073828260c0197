"""Adverse-event rules: pure functions, no Django (DOMAIN.md section 6).

Seriousness is a regulatory outcome (ICH E2A), not intensity: a severe
(grade 3) event is not serious unless a seriousness criterion applies.
"""

from datetime import timedelta

from core.rules import Violation, future_date

#: A serious event must be reviewed within this time of its entry.
EXPEDITED_REVIEW_WINDOW = timedelta(hours=24)

SERIOUSNESS_CRITERIA = (
    ("serious_death", "results in death"),
    ("serious_life_threatening", "life-threatening"),
    ("serious_hospitalisation", "requires or prolongs hospitalisation"),
    ("serious_disability", "persistent or significant disability"),
    ("serious_congenital_anomaly", "congenital anomaly or birth defect"),
    ("serious_medically_important", "medically important event"),
)
CTCAE_GRADES = {
    1: "1 – mild",
    2: "2 – moderate",
    3: "3 – severe",
    4: "4 – life-threatening",
    5: "5 – death",
}
FATAL = "fatal"


def ae_violations(*, today, grade, serious, criteria: dict, outcome, onset_date, end_date,
                  enrolment_date, infusion_date=None, infusion_patient_ok=True) -> list[Violation]:
    """``criteria``: criterion field -> bool."""
    v = []
    ticked = [name for name, on in criteria.items() if on]
    if grade == 5:
        if not serious or not criteria.get("serious_death"):
            v.append(Violation("serious_death", "grade5_is_death",
                               "Grade 5 means death: mark the event serious with the criterion "
                               "'results in death'."))
        if outcome and outcome != FATAL:
            v.append(Violation("outcome", "grade5_is_fatal", "A grade 5 event has the outcome 'fatal'."))
    if serious and not ticked:
        v.append(Violation("serious", "criterion_required",
                           "A serious event needs at least one seriousness criterion."))
    if not serious and ticked:
        v.append(Violation("serious", "criteria_without_serious",
                           "A seriousness criterion is ticked: mark the event serious, or untick it."))
    if criteria.get("serious_death") and outcome and outcome != FATAL:
        v.append(Violation("outcome", "death_is_fatal",
                           "The event resulted in death: the outcome is 'fatal'."))
    v += future_date("onset_date", onset_date, today, "The onset date")
    v += future_date("end_date", end_date, today, "The end date")
    if onset_date and end_date and end_date < onset_date:
        v.append(Violation("end_date", "end_before_onset", "The end date cannot be before the onset."))
    if onset_date and enrolment_date and onset_date < enrolment_date:
        v.append(Violation("onset_date", "before_enrolment",
                           "An adverse event in this study starts on or after enrolment; record "
                           "earlier conditions as medical history."))
    if not infusion_patient_ok:
        v.append(Violation("infusion", "other_patient", "That infusion belongs to another patient."))
    elif infusion_date and onset_date and onset_date < infusion_date:
        v.append(Violation("onset_date", "before_infusion",
                           "The event cannot start before the infusion it is linked to."))
    return v


def review_due_at(entered_at):
    return entered_at + EXPEDITED_REVIEW_WINDOW
