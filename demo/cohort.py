"""The demo cohort, shaped like J Rheumatol 1994;21(6):1092-7 (DOMAIN.md section 1):
11 adults, 6 women and 5 men, mean age 55.6, 5 PM and 6 DM, disease duration
1 month to 3 years (mean 9.6 months), four malignancy histories, one acute
coxsackie B infection, one possible drug-induced myopathy."""

from dataclasses import dataclass, field
from datetime import date, timedelta

#: (code, name, time zone, country: ISO 3166-1 alpha-3).
SITES = [
    ("01", "University Hospital North", "Europe/Paris", "FRA"),
    ("02", "City General Hospital", "Europe/Paris", "FRA"),
]

#: username -> (role, site code or None for study-wide, first name, last name, language).
#: The language is the user's stored choice (``accounts.Profile.language``); "" leaves
#: it to the browser. ``clinicien-02`` works in French at site 02 (issue 16).
USERS = {
    "clinician": ("clinician", "01", "Claire", "Martin", ""),
    "investigator": ("investigator", "01", "Ivan", "Dubois", ""),
    "coordinator": ("coordinator", None, "Corinne", "Leroy", ""),
    "monitor": ("monitor", None, "Marc", "Petit", ""),
    "admin": ("admin", None, "Anne", "Moreau", ""),
    "clinicien-02": ("clinician", "02", "Camille", "Lefèvre", "fr"),
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
                malignancies=(Malignancy("Ovarian carcinoma", 75, "active", "confirmed",
                                         "Diagnosed a few months after IVIG began."),)),
    DemoPatient("02-002", "M", 61, "PM", 8, date(2025, 6, 9), NO_EMG, PM_SIGNS,
                cause="drug", cause_detail="Possible statin-induced myopathy (simvastatin)"),
    DemoPatient("02-003", "F", 64, "DM", 10, date(2025, 6, 30), ALL4, DM_SIGNS),
    DemoPatient("02-004", "F", 67, "DM", 24, date(2025, 7, 21), NO_EMG, DM_SIGNS + ("gottron_sign",)),
    DemoPatient("02-005", "M", 70, "PM", 36, date(2025, 8, 11), ALL4, PM_SIGNS + ("dysphagia",)),
]


def onset_for(p: DemoPatient) -> date:
    return p.enrolment - timedelta(days=round(p.duration_months * 30.4375))


# --- Treatment (issue 3) -----------------------------------------------------


@dataclass(frozen=True)
class DemoCourse:
    """One patient's course: cycles, weight, CK and MMT-8 from baseline to the
    last assessment, and whether the course ended with an end-of-treatment visit."""

    cycles: int
    weight_kg: str
    ck_baseline: int
    ck_last: int
    mmt_baseline: int
    mmt_last: int
    end_visit: bool = True
    thrombotic_risk: bool = False


#: subject id -> course. 8 of 11 have a CK fall > 50 % (baseline to last
#: assessment); 3 of 11 gain >= 20 % on the MMT-8 total; 44 cycles (mean 4).
COURSES = {
    "01-001": DemoCourse(4, "62.0", 4200, 380, 50, 62),      # CK -91 %, MMT +24 %
    "01-002": DemoCourse(4, "81.5", 3100, 900, 58, 61),      # CK -71 %
    "01-003": DemoCourse(3, "58.0", 2600, 700, 55, 57),      # CK -73 %
    "01-004": DemoCourse(5, "77.0", 1800, 1500, 60, 58),     # CK -17 % (viral myositis)
    "01-005": DemoCourse(6, "66.5", 5200, 420, 48, 60),      # CK -92 %, MMT +25 %
    "01-006": DemoCourse(2, "84.0", 2200, 950, 61, 63),      # CK -57 %
    "02-001": DemoCourse(4, "70.0", 3600, 800, 54, 57),      # CK -78 %
    "02-002": DemoCourse(4, "88.0", 1500, 1100, 62, 62),     # CK -27 % (drug-induced)
    "02-003": DemoCourse(3, "59.5", 6100, 1300, 52, 64),     # CK -79 %, MMT +23 %
    "02-004": DemoCourse(5, "64.0", 2900, 1200, 57, 59, end_visit=False),  # CK -59 %
    "02-005": DemoCourse(4, "79.0", 1200, 1150, 63, 61, end_visit=False,
                         thrombotic_risk=True),              # CK -4 %; age 70
}

#: Deliberate protocol deviations: (subject id, cycle, what).
DEVIATIONS = {
    ("01-002", 2): "underdose_day2",   # 85 % of the prescribed dose on day 2
    ("02-002", 3): "late",              # 40 days after the previous cycle
    ("02-005", 2): "fast",              # 0.035 mL/kg/min at thrombotic risk: above the at-risk limit
    ("01-006", 2): "no_day2",           # day 2 not given
}

#: The one minor side effect of the reference study: (subject id, cycle, day).
INFUSION_REACTION = ("01-003", 2, 1)
#: subject id -> the reason of a missed cycle (a month without infusion) planned after the
#: last cycle of that on-study patient (visits.MissedCycle).
MISSED_CYCLES = {"02-004": "declined"}


#: The CTCAE v5.0 term (MedDRA LLT code, coding/data/ctcae_v5_terms.csv) that codes each demo
#: verbatim term. Aseptic meningitis after IVIG: CTCAE's "Meningismus" (nervous system).
AE_CODING = {"Infusion-related reaction": "10051792", "Headache": "10019211", "Chills": "10008531",
             "Fever": "10016558", "Nausea": "10028813", "Fatigue": "10016256", "Rash": "10037868",
             "Hypertension": "10020772", "Aseptic meningitis": "10027198"}


@dataclass(frozen=True)
class DemoMedication:
    drug_name: str
    atc_code: str
    indication: str
    dose: str
    dose_unit: str
    route: str
    frequency: str
    start_days: int  # from the first infusion (negative: before the study)
    end_days: int | None = None  # from the first infusion; None: ongoing


#: Concomitant medications (issue 17): a statin stopped before IVIG in the patient whose
#: myopathy was suspected drug-induced, prednisone started during the course of two patients
#: whose CK barely fell, methotrexate added in one, and a few others taken throughout.
MEDICATIONS = {
    "02-002": (DemoMedication("Simvastatin", "C10AA01", "Hypercholesterolaemia", "40", "mg", "ORAL", "QD", -700, -10),
               DemoMedication("Prednisone", "H02AB07", "Myositis not improving", "40", "mg", "ORAL", "QD", 60)),
    "01-004": (DemoMedication("Cortancyl", "H02AB07", "Myositis not improving", "30", "mg", "ORAL", "QD", 35),),
    "01-006": (DemoMedication("Methotrexate", "L04AX03", "Myositis", "15", "mg", "SUBCUTANEOUS", "QW", 30),),
    "01-003": (DemoMedication("Plaquenil", "P01BA02", "Cutaneous dermatomyositis", "200", "mg", "ORAL", "BID",
                              -120),),
    "02-004": (DemoMedication("Estradiol gel", "G03CA03", "Menopausal symptoms", "1.5", "mg", "TRANSDERMAL", "QD",
                              -1000),
               DemoMedication("Atorvastatin", "C10AA05", "Hypercholesterolaemia", "10", "mg", "ORAL", "QD", -400)),
}


#: (subject id, cycle) -> missing-data codes of that cycle's pre-treatment assessment
#: (core.missing): what a laboratory or a patient could not give, recorded as such.
MISSING_CODES = {
    ("01-001", 2): {"aldolase_u_per_l": "ND", "aldolase_uln_u_per_l": "ND"},  # not done that month
    ("01-004", 3): {"patient_global": "ASKU"},                                 # the patient could not say
    ("02-003", 2): {"aldolase_u_per_l": "UNK"},                                # lost by the laboratory
}
