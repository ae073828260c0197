"""The demo cohort, shaped like J Rheumatol 1994;21(6):1092-7 (DOMAIN.md section 1):
11 adults, 6 women and 5 men, mean age 55.6, 5 PM and 6 DM, disease duration
1 month to 3 years (mean 9.6 months), four malignancy histories, one acute
coxsackie B infection, one possible drug-induced myopathy."""

from dataclasses import dataclass, field
from datetime import date, timedelta

SITES = [
    ("01", "University Hospital North", "Europe/Paris"),
    ("02", "City General Hospital", "Europe/Paris"),
]

#: username -> (role, site code or None for study-wide, first name, last name)
USERS = {
    "clinician": ("clinician", "01", "Claire", "Martin"),
    "investigator": ("investigator", "01", "Ivan", "Dubois"),
    "coordinator": ("coordinator", None, "Corinne", "Leroy"),
    "monitor": ("monitor", None, "Marc", "Petit"),
    "admin": ("admin", None, "Anne", "Moreau"),
}


@dataclass(frozen=True)
class Malignancy:
    malignancy_type: str
    diagnosed_offset_days: int  # relative to enrolment
    status: str
    certainty: str
    notes: str = ""


@dataclass(frozen=True)
class DemoPatient:
    subject_id: str
    sex: str
    age: int
    kind: str
    duration_months: int
    enrolment: date
    bp: tuple  # Bohan & Peter criteria 1-4 met
    signs: tuple = ()  # skin signs and EULAR/ACR variables present
    cause: str = "none"
    cause_detail: str = ""
    malignancies: tuple = field(default_factory=tuple)


DM_SIGNS = ("heliotrope_rash", "gottron_papules", "upper_limb_weakness", "lower_limb_weakness")
PM_SIGNS = ("upper_limb_weakness", "lower_limb_weakness", "neck_flexors_weaker")
ALL4 = (True, True, True, True)
NO_EMG = (True, True, True, False)

PATIENTS = [
    DemoPatient("01-001", "F", 39, "DM", 1, date(2025, 1, 13), ALL4, DM_SIGNS,
                malignancies=(Malignancy("Non-Hodgkin lymphoma", -8 * 365, "remission", "confirmed",
                                         "Treated with chemotherapy; in remission."),)),
    DemoPatient("01-002", "M", 42, "PM", 2, date(2025, 2, 3), ALL4, PM_SIGNS),
    DemoPatient("01-003", "F", 48, "DM", 3, date(2025, 2, 24), NO_EMG, DM_SIGNS,
                malignancies=(Malignancy("Breast carcinoma", -5 * 365, "relapse", "confirmed",
                                         "Relapsed during the study."),)),
    DemoPatient("01-004", "M", 51, "PM", 4, date(2025, 3, 17), NO_EMG, PM_SIGNS,
                cause="viral", cause_detail="Acute coxsackie B infection"),
    DemoPatient("01-005", "F", 54, "DM", 5, date(2025, 4, 7), ALL4, DM_SIGNS + ("dysphagia",)),
    DemoPatient("01-006", "M", 57, "PM", 6, date(2025, 4, 28), ALL4, PM_SIGNS,
                malignancies=(Malignancy("Lung carcinoma", -30, "active", "probable",
                                         "Suspicious lesion on chest CT; not biopsied."),)),
    DemoPatient("02-001", "F", 59, "DM", 7, date(2025, 5, 19), ALL4, DM_SIGNS,
                malignancies=(Malignancy("Ovarian carcinoma", 120, "active", "confirmed",
                                         "Diagnosed a few months after IVIG began."),)),
    DemoPatient("02-002", "M", 61, "PM", 8, date(2025, 6, 9), NO_EMG, PM_SIGNS,
                cause="drug", cause_detail="Possible statin-induced myopathy (simvastatin)"),
    DemoPatient("02-003", "F", 64, "DM", 10, date(2025, 6, 30), ALL4, DM_SIGNS),
    DemoPatient("02-004", "F", 67, "DM", 24, date(2025, 7, 21), NO_EMG, DM_SIGNS + ("gottron_sign",)),
    DemoPatient("02-005", "M", 70, "PM", 36, date(2025, 8, 11), ALL4, PM_SIGNS + ("dysphagia",)),
]


def onset_for(p: DemoPatient) -> date:
    return p.enrolment - timedelta(days=round(p.duration_months * 30.4375))
