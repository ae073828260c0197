"""Eight simulated clinicians against a live server (bounded by DURATION).

Each clinician is a thread with its own ``requests.Session``: it logs in
through the real login form (CSRF token, password), then until the time is
up it picks one of its site's load-test patients and

- on the web (3 times in 4): opens the record-cycle form (GET), reads the
  cycle number the page offers, posts a new cycle (assessment, day 1 and
  day 2; dated 28 days after the previous cycle; one in five with an
  under-dose on day 2; a unique lot number per submission), follows the
  redirect to the timeline (GET);
- through the API (1 in 4, token auth): reads the patient's last cycle,
  posts the next one as JSON.

Sometimes it also opens a demo patient's timeline. Clinicians of one site
share their patients, so two of them regularly record the same patient's
next cycle at the same moment: the loser must get a form error (200) or a
400, never a 5xx nor a second copy.

After the timed run, a race phase makes the collision certain: two
clinicians of the same site open the same form and post it behind a
barrier, ROUNDS times on the web and ROUNDS times through the API.

Fault scenario (FAULT=1): halfway through, once an application backend is
busy, every backend of the database but the killer's is terminated with
``pg_terminate_backend``. Requests in flight may then get the 503 page;
they are reported apart.

Writes every request (kind, status, start, latency) and every save (what
was typed, what the server answered) to the JSON file given.
"""

import json
import os
import random
import re
import sys
import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import requests

BASE = os.environ["BASE_URL"]
DURATION = float(os.environ.get("DURATION", "60"))
FAULT = os.environ.get("FAULT", "1") == "1"
ROUNDS = int(os.environ.get("RACE_ROUNDS", "5"))
API_SHARE = float(os.environ.get("API_SHARE", "0.25"))
UNDERDOSE_SHARE = 0.2
TIMEOUT = 60

GRADES = ["neck_flexors", "deltoid", "biceps", "wrist_extensors", "gluteus_maximus", "gluteus_medius",
          "quadriceps", "ankle_dorsiflexors"]
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TITLE_RE = re.compile(r"Record cycle (\d+) for")
ERROR_RE = re.compile(r'class="(?:alert alert-danger|invalid-feedback d-block)"[^>]*>(.*?)</div>', re.S)
SAVED_RE = re.compile(r"#cycle-(\d+)$")

lock = threading.Lock()
requests_log = []   # dicts: who, kind, status, t0 (s since start), ms
saves_log = []      # dicts: who, via, patient, lot, typed_start, status, outcome, number, errors
login_failures = []
T0 = time.monotonic()


class Clinician:
    def __init__(self, account, patients, demo_patients, rng):
        self.account = account
        self.who = account["username"]
        self.patients = patients
        self.demo = demo_patients
        self.rng = rng
        self.session = requests.Session()
        self.api = requests.Session()
        self.api.headers["Authorization"] = f"Token {account['token']}"
        self.seq = 0

    # -- HTTP with timing ------------------------------------------------------------------
    def call(self, kind, method, url, session=None, **kwargs):
        session = session or self.session
        start = time.monotonic()
        try:
            response = session.request(method, BASE + url, allow_redirects=False, timeout=TIMEOUT, **kwargs)
            status = response.status_code
        except requests.RequestException as exc:
            response, status = None, f"exception: {type(exc).__name__}"
        end = time.monotonic()
        entry = {"who": self.who, "kind": kind, "status": status, "t0": round(start - T0, 4),
                 "t1": round(end - T0, 4), "ms": round((end - start) * 1000, 2)}
        if response is not None and status in (500, 502, 503, 504):
            entry["db_unavailable"] = ("The database could not be reached" in response.text
                                       or "database_unavailable" in response.text)
        with lock:
            requests_log.append(entry)
        return response

    def login(self):
        """The login form, as a person would use it; after a 503 (database
        unavailable) they try again a moment later."""
        status = None
        for _attempt in range(3):
            page = self.call("login_form", "GET", "/accounts/login/")
            if page is None or page.status_code != 200:
                status = page is not None and page.status_code
                time.sleep(1)
                continue
            token = CSRF_RE.search(page.text).group(1)
            response = self.call("login_post", "POST", "/accounts/login/", data={
                "csrfmiddlewaretoken": token, "username": self.who, "password": self.account["password"],
                "next": ""}, headers={"Referer": BASE + "/accounts/login/"})
            if response is not None and response.status_code == 302:
                return
            status = response is not None and response.status_code
            time.sleep(1)
        raise RuntimeError(f"{self.who}: login failed ({status})")

    # -- What a clinician types ------------------------------------------------------------
    def next_lot(self):
        self.seq += 1
        return f"{self.who.replace('loadclin', 'C')}-{self.seq:05d}-{self.rng.randrange(16 ** 4):04x}"

    def cycle_values(self, patient, start, lot):
        weight = Decimal(patient["weight_kg"])
        day2 = weight if self.rng.random() > UNDERDOSE_SHARE else (weight * Decimal("0.8")).quantize(Decimal("0.1"))
        rate = (weight * Decimal("0.025") * 60).quantize(Decimal("0.1"))  # below both rate limits
        grade = self.rng.randint(3, 9)
        return weight, [(1, start, weight), (2, start + timedelta(days=1), day2)], rate, grade, day2 < weight

    def form_data(self, csrf, patient, start, lot):
        weight, days, rate, grade, under = self.cycle_values(patient, start, lot)
        data = {
            "csrfmiddlewaretoken": csrf,
            "cycle-start_date": start.isoformat(), "cycle-weight_kg": str(weight), "cycle-height_cm": "",
            "cycle-dosing_basis": "actual",
            "assessment-assessment_date": start.isoformat(), "assessment-mmt_scale": "kendall",
            "assessment-ck_u_per_l": str(self.rng.randint(150, 4000)), "assessment-ck_uln_u_per_l": "200",
            "assessment-physician_global": "5.5",
            **{f"assessment-mmt_{g}": str(grade) for g in GRADES},
        }
        for day, when, dose in days:
            data.update({
                f"day{day}-infusion_date": when.isoformat(), f"day{day}-start_time": "09:00",
                f"day{day}-end_time": "15:30", f"day{day}-product": "Polyvalent IVIG 10 %",
                f"day{day}-lot": f"{lot}-{day}", f"day{day}-concentration_pct": "10",
                f"day{day}-volume_ml": str(dose * 10), f"day{day}-dose_g": str(dose),
                f"day{day}-max_rate_ml_per_h": str(rate),
            })
        return data, under

    def api_body(self, patient, start, lot):
        weight, days, rate, grade, under = self.cycle_values(patient, start, lot)
        return {
            "patient": patient["pk"], "start_date": start.isoformat(), "weight_kg": str(weight),
            "dosing_basis": "actual",
            "assessment": {"assessment_date": start.isoformat(), "mmt_scale": "kendall",
                           **{f"mmt_{g}": grade for g in GRADES},
                           "ck_u_per_l": str(self.rng.randint(150, 4000)), "ck_uln_u_per_l": "200"},
            "infusions": [{"day": day, "infusion_date": when.isoformat(), "product": "Polyvalent IVIG 10 %",
                           "lot": f"{lot}-{day}", "concentration_pct": "10.0", "volume_ml": str(dose * 10),
                           "dose_g": str(dose), "max_rate_ml_per_h": str(rate)} for day, when, dose in days],
        }, under

    @staticmethod
    def start_for(patient, number):
        return date.fromisoformat(patient["first_start"]) + timedelta(days=28 * (number - 1))

    def record(self, **entry):
        entry["who"] = self.who
        with lock:
            saves_log.append(entry)

    # -- One web cycle ---------------------------------------------------------------------
    def open_form(self, patient):
        page = self.call("cycle_form", "GET", f"/patients/{patient['pk']}/cycles/new/")
        if page is None or page.status_code != 200:
            return None
        number = int(TITLE_RE.search(page.text).group(1))
        return CSRF_RE.search(page.text).group(1), number

    def post_form(self, patient, csrf, number, barrier=None, resubmit=None):
        if resubmit is None:
            lot = self.next_lot()
            start = self.start_for(patient, number)
            data, under = self.form_data(csrf, patient, start, lot)
        else:  # the same entries again, after the 503 page said to submit again
            lot, start, data, under = resubmit
        if barrier is not None:
            barrier.wait()
        response = self.call("cycle_post", "POST", f"/patients/{patient['pk']}/cycles/new/", data=data)
        entry = {"via": "web", "patient": patient["pk"], "lot": lot, "typed_start": start.isoformat(),
                 "offered_number": number, "underdose": under, "race": barrier is not None,
                 "resubmitted": resubmit is not None,
                 "status": response.status_code if response is not None else "exception"}
        if response is not None and response.status_code == 302:
            match = SAVED_RE.search(response.headers.get("Location", ""))
            entry.update(outcome="saved", number=int(match.group(1)) if match else None)
            self.record(**entry)
            self.call("timeline", "GET", response.headers["Location"].split("#")[0])
        elif response is not None and response.status_code == 200:
            errors = [re.sub(r"\s+", " ", e).strip() for e in ERROR_RE.findall(response.text)]
            entry.update(outcome="refused", errors=errors[:3])
            self.record(**entry)
        else:
            entry.update(outcome="error")
            self.record(**entry)
            if response is not None and response.status_code == 503 and resubmit is None:
                time.sleep(1)
                return self.post_form(patient, csrf, number, resubmit=(lot, start, data, under))
        return entry

    def web_cycle(self, patient):
        opened = self.open_form(patient)
        if opened:
            self.post_form(patient, *opened)

    # -- One API cycle ---------------------------------------------------------------------
    def api_next_start(self, patient):
        response = self.call("api_list", "GET", "/api/v1/cycles/", session=self.api,
                             params={"patient": patient["pk"], "ordering": "-number", "page_size": 1})
        if response is None or response.status_code != 200:
            return None
        rows = response.json()["results"]
        if not rows:
            return date.fromisoformat(patient["first_start"])
        return date.fromisoformat(rows[0]["start_date"]) + timedelta(days=28)

    def api_post(self, patient, start, barrier=None, resubmit=None):
        lot = self.next_lot() if resubmit is None else resubmit[0]
        body, under = self.api_body(patient, start, lot) if resubmit is None else resubmit[1:]
        if barrier is not None:
            barrier.wait()
        response = self.call("api_post", "POST", "/api/v1/cycles/", session=self.api, json=body)
        entry = {"via": "api", "patient": patient["pk"], "lot": lot, "typed_start": start.isoformat(),
                 "underdose": under, "race": barrier is not None, "resubmitted": resubmit is not None,
                 "status": response.status_code if response is not None else "exception"}
        if response is not None and response.status_code == 201:
            entry.update(outcome="saved", number=response.json()["number"])
        elif response is not None and response.status_code in (400, 409):
            body = response.json()
            entry.update(outcome="refused", errors=[f"{field}: {e['message']}" for field, items in
                                                     body.get("errors", {}).items() for e in items][:3])
        else:
            entry.update(outcome="error")
        self.record(**entry)
        if entry["outcome"] == "error" and entry["status"] == 503 and resubmit is None:
            time.sleep(1)  # the program retries the same body once (Retry-After)
            return self.api_post(patient, start, resubmit=(lot, body, under))
        return entry

    def api_cycle(self, patient):
        start = self.api_next_start(patient)
        if start is not None:
            self.api_post(patient, start)

    # -- The run ---------------------------------------------------------------------------
    def run(self, deadline):
        try:
            self.login()
        except Exception as exc:  # recorded, the verdict fails on a missing clinician
            with lock:
                login_failures.append(str(exc))
            return
        while time.monotonic() < deadline:
            patient = self.rng.choice(self.patients)
            if self.rng.random() < API_SHARE:
                self.api_cycle(patient)
            else:
                self.web_cycle(patient)
            if self.demo and self.rng.random() < 0.2:
                self.call("timeline", "GET", f"/patients/{self.rng.choice(self.demo)}/timeline/")


def fault_thread(at, report):
    """Once, at ``at`` seconds: wait until an app backend is busy, then
    terminate every other backend of the database."""
    import psycopg2

    time.sleep(at)
    conn = psycopg2.connect(os.environ["PG_DSN"])
    conn.autocommit = True
    with conn.cursor() as cur:
        busy_sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')")
        waited = time.monotonic()
        while time.monotonic() - waited < 10:
            cur.execute(busy_sql)
            if cur.fetchone()[0]:
                break
            time.sleep(0.005)
        cur.execute("SELECT pid, state, left(query, 60) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid()")
        before = cur.fetchall()
        report["t"] = round(time.monotonic() - T0, 4)
        cur.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        report["terminated"] = cur.fetchone()[0]
        report["backends"] = [{"state": s, "query": q} for _, s, q in before]
    conn.close()


def race_phase(clinicians, patients_by_site, rounds):
    """Two clinicians of one site, one patient, the same form, posted at the same instant."""
    results = []
    by_site = {}
    for c in clinicians:
        by_site.setdefault(c.account["site"], []).append(c)
    pairs = [(site, cs[0], cs[1]) for site, cs in sorted(by_site.items()) if len(cs) >= 2]
    for round_ in range(rounds):
        for via in ("web", "api"):
            site, a, b = pairs[round_ % len(pairs)]
            patient = patients_by_site[site][round_ % len(patients_by_site[site])]
            barrier = threading.Barrier(2)
            outcomes = [None, None]
            if via == "web":
                opened = [a.open_form(patient), b.open_form(patient)]
                if not all(opened):
                    continue
                targets = [lambda i=i, c=c: outcomes.__setitem__(i, c.post_form(patient, *opened[i], barrier=barrier))
                           for i, c in enumerate((a, b))]
            else:
                start = a.api_next_start(patient)
                if start is None:
                    continue
                targets = [lambda i=i, c=c: outcomes.__setitem__(i, c.api_post(patient, start, barrier=barrier))
                           for i, c in enumerate((a, b))]
            threads = [threading.Thread(target=t) for t in targets]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            results.append({"via": via, "patient": patient["subject_id"],
                            "outcomes": [(o or {}).get("outcome") for o in outcomes],
                            "statuses": [(o or {}).get("status") for o in outcomes],
                            "errors": [e for o in outcomes for e in (o or {}).get("errors", [])][:2]})
    return results


def main(setup_path, out_path):
    with open(setup_path) as fh:
        setup = json.load(fh)
    seed = int(os.environ.get("SEED", "20260101"))
    clinicians = [Clinician(acc, setup["patients"][acc["site"]], setup["demo_patients"].get(acc["site"], []),
                            random.Random(seed + i)) for i, acc in enumerate(setup["clinicians"])]
    deadline = time.monotonic() + DURATION
    fault = {}
    threads = [threading.Thread(target=c.run, args=(deadline,), name=c.who) for c in clinicians]
    if FAULT:
        threads.append(threading.Thread(target=fault_thread, args=(DURATION / 2, fault), name="fault"))
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    print(f"   timed phase: {len(requests_log)} requests in {elapsed:.1f} s", flush=True)
    timed_requests = len(requests_log)
    race = race_phase(clinicians, setup["patients"], ROUNDS)
    print(f"   race phase: {len(race)} simultaneous pairs", flush=True)
    with open(out_path, "w") as fh:
        json.dump({"duration": DURATION, "elapsed": round(elapsed, 3), "timed_requests": timed_requests,
                   "requests": requests_log, "saves": saves_log, "login_failures": login_failures, "fault": fault, "race": race,
                   "clinicians": len(clinicians)}, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
