"""Shared machinery of the hostile-input properties.

- ``HOSTILE_TEXT`` / ``HOSTILE_JSON``: hypothesis strategies of bad values
  (huge and negative numbers, NaN / Infinity, unicode oddities incl. RTL
  overrides, zero-width characters, emoji and NUL bytes, HTML and SQL
  fragments, empty and blank strings, very long strings, far-past and
  far-future dates, malformed dates and times, wrong JSON types).
- ``snapshot()``: counts and a hash of every row of the clinical and
  oversight tables, simple-history tables included.
- ``isolated()``: one hypothesis example in a savepoint that is rolled back,
  so the examples of one test do not see each other's writes.
- ``post_form`` / ``send_api``: send, then check the property: a field-level
  error (and nothing stored changed) or a success; never a 500 (the test
  client re-raises the view's exception, which fails the example).
"""

import hashlib
import json
import string
from contextlib import contextmanager

from django import forms
from django.apps import apps
from django.db import transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SCRIPT = "<script>alert(1)</script>"
RAW_MARKERS = ("<script>alert(", "<img src=x onerror")

#: Digits that are not ASCII: ``str.isdigit()`` accepts them all, ``int()`` some of them.
LOOK_ALIKE_DIGITS = ["\u00b2", "\u00b9", "\u2075", "\u2460", "\u0662", "\u06f3", "\u0967", "\uff14",
                     "\U0001d7ce", "\U0001d7cf\U0001d7d0", "\u2167", "\u0663\u0663", "1\u00b2", "\uff10\uff11"]
#: Invisible and control characters free text refuses (see core/validation.py).
INVISIBLE_CHARACTERS = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u061c", "\u200e", "\u200f",
                        "\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068",
                        "\u2069", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u2029",
                        "\u00ad", "\ufffe"]

HOSTILE_STRINGS = [
    "", " ", "   \t\n  ", "\u00a0", "\x00", "a\x00b", "\x00" * 5, "\r\n", "\x1b[31m", "\x7f", "\x0b\x0c",
    SCRIPT, "<img src=x onerror=alert(1)>", '"><script>alert(1)</script>', "</textarea><script>alert(1)</script>",
    "'; DROP TABLE patients_patient; --", "1' OR '1'='1", "\" OR 1=1 --", "%s%s%s%n", "{{ 7*7 }}", "{% debug %}",
    "${jndi:ldap://x}", "../../etc/passwd", "=cmd|'/c calc'!A1", "\\", "'", '"', "%", "_", "NULL", "None", "null",
    "\u202eevil\u202c", "\u200b", "\u200d\u200c\u2060", "\ufeff", "\u0301\u0301", "ﷺ", "שלום", "مرحبا",
    "👩‍⚕️💉🧪", "🏳️‍🌈" * 3, "𝕳𝖊𝖑𝖑𝖔", "Ω≈ç√∫", "İ", "ß", "ǅ", "\U0010ffff", "\ufffd",
    "A" * 501, "B" * 2001, "é" * 1001, "<" * 3000, "9" * 400,
    # numbers
    "0", "-0", "-1", "-999999", "1e308", "-1e308", "1E+999999", "1e-999999", "NaN", "nan", "-NaN", "sNaN",
    "Infinity", "-Infinity", "inf", "1" + "0" * 40, "9" * 30, "-" + "9" * 30, "2147483648", "4294967296",
    "9223372036854775808", "-9223372036854775809", "32768", "65536", "0.0000001", "1,5", "1.2.3", "0x10", "1_000",
    "٣", "１２", "+5", " 7 ", "70.05", "1e2", "0e0",
    # dates and times
    "0001-01-01", "9999-12-31", "0000-00-00", "2025-02-30", "2025-13-01", "2025-00-10", "31/12/2025",
    "2025-1-1", "99999-01-01", "-2025-01-01", "1900-02-29", "2024-02-29", "today", "2025-03-10T10:00:00Z",
    "10000-01-01", "0001-01-02", "9999-12-30", "25:00", "23:59:59.999999", "24:00", "-01:00", "12:60",
    # look-alike ids and codes, invisible characters inside a plausible value
    *LOOK_ALIKE_DIGITS, "01-\U0001d7ce\U0001d7ce\U0001d7cf", "01-\u0660\u0660\u0662", "01-\uff10\uff104",
    *(f"LOT{c}1" for c in INVISIBLE_CHARACTERS), "%00", "1\x00",
]

_alphabet = st.characters(blacklist_categories=("Cs",))
HOSTILE_TEXT = st.one_of(
    st.sampled_from(HOSTILE_STRINGS),
    st.text(_alphabet, max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.dates().map(lambda d: d.isoformat()),
    st.text(string.digits + "-.:/ eE+", max_size=12),
)
# A form field may also come twice in the POST (the last value is used).
HOSTILE_FORM_VALUE = st.one_of(HOSTILE_TEXT, st.lists(st.sampled_from(HOSTILE_STRINGS), min_size=2, max_size=2))

HOSTILE_JSON = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40), st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    HOSTILE_TEXT,
    st.lists(st.sampled_from([1, "x", None, {}]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "id", "__proto__"]), st.sampled_from([1, "x", None]), max_size=2),
)

SETTINGS = dict(deadline=None, derandomize=True, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])


def hostile_settings(max_examples):
    return settings(max_examples=max_examples, **SETTINGS)


DATE_EDGES = ["0001-01-01", "0001-01-02", "9999-12-31", "9999-12-30", "1900-01-01", "2100-01-01",
              "2025-02-29", "2024-02-29", "2025-03-09", "2025-03-10", "2025-03-17", "2025-03-18"]
NUMBER_EDGES = ["0", "-1", "-0.0", "0.05", "0.04", "1e-7", "99999.9", "999999", "1" + "0" * 20, "NaN", "Infinity",
                "-Infinity", "1E+5000", "32767", "32768", "2147483647", "2147483648", "9223372036854775807",
                "9223372036854775808", "5", "10", "11", "80", "81"]


def typed(field):
    """Hostile values shaped for a form field's type, to reach the rules behind the
    parsing (an edge date, a huge but well-formed number)."""
    if isinstance(field, forms.DateField):
        return st.one_of(st.sampled_from(DATE_EDGES), st.dates().map(lambda d: d.isoformat()))
    if isinstance(field, forms.TimeField):
        return st.one_of(st.times().map(lambda t: t.isoformat()), st.sampled_from(["00:00", "23:59", "24:00"]))
    if isinstance(field, (forms.IntegerField, forms.DecimalField, forms.FloatField)):
        return st.one_of(st.sampled_from(NUMBER_EDGES),
                         st.decimals(allow_nan=False, allow_infinity=False, places=2,
                                     min_value=-(10**6), max_value=10**7).map(str))
    if isinstance(field, forms.ModelChoiceField):
        return st.sampled_from(["", "0", "-1", "999999999", "1" + "0" * 30, "1.5"])
    if isinstance(field, forms.ChoiceField):
        values = [str(v) for v, _ in field.choices if not isinstance(_, (list, tuple))]
        return st.sampled_from(values or [""])
    if isinstance(field, forms.BooleanField):
        return st.sampled_from(["on", "", "off", "false", "0"])
    return st.sampled_from(HOSTILE_STRINGS)


def overrides(fields, value=HOSTILE_FORM_VALUE, max_size=3):
    """Some fields replaced by hostile values, and maybe one left out. ``fields`` is a
    list of names, or {name: form field} for values shaped by the field's type too."""
    names = sorted(fields)

    def value_for(name):
        field = fields.get(name) if isinstance(fields, dict) else None
        return st.one_of(typed(field), value) if field is not None else value

    pairs = st.lists(st.sampled_from(names).flatmap(lambda n: st.tuples(st.just(n), value_for(n))),
                     min_size=1, max_size=max_size)
    return st.tuples(pairs.map(dict), st.sets(st.sampled_from(names), max_size=1))


def apply(base, changes):
    replaced, dropped = changes
    data = {**base, **replaced}
    for name in dropped:
        if name not in replaced:
            data.pop(name, None)
    return data


# --- Database snapshot ---------------------------------------------------------------

SNAPSHOT_APPS = ("patients", "visits", "safety", "review", "oversight")


def snapshot(exclude=()):
    """{table: (row count, sha256 of the rows)} of the clinical and oversight tables,
    their simple-history tables included."""
    state = {}
    for label in SNAPSHOT_APPS:
        for model in apps.get_app_config(label).get_models():
            if model._meta.db_table in exclude:
                continue
            rows = list(model._base_manager.order_by("pk").values_list())
            state[model._meta.db_table] = (len(rows), hashlib.sha256(repr(rows).encode()).hexdigest())
    return state


def changed_tables(before, after):
    return sorted(t for t in before if before[t] != after.get(t))


@contextmanager
def isolated():
    """Run one example in a savepoint and roll it back.

    The savepoint stands for the test's own transaction: like Django's
    TestCase, it lets a durable block inside it run (the e-signature's password
    check commits its failed attempts in one, ``accounts.services.password_recheck``),
    as it would at the top of a real request."""
    block = transaction.atomic()
    block._from_testcase = True  # what django.test.TestCase sets on its own atomic blocks
    with block:
        yield
        transaction.set_rollback(True)


# --- Forms ---------------------------------------------------------------------------------

def browser_data(form):
    """What a browser posts for an unbound form as rendered (its initial values)."""
    data = {}
    for bf in form:
        widget = bf.field.widget
        value = bf.value()
        if isinstance(widget, forms.CheckboxInput):
            if value:
                data[bf.html_name] = "on"
            continue
        if value is None:
            data[bf.html_name] = ""
        elif hasattr(value, "isoformat") and isinstance(widget, forms.DateInput):
            data[bf.html_name] = value.isoformat()
        elif hasattr(value, "strftime") and isinstance(widget, forms.TimeInput):
            data[bf.html_name] = value.strftime("%H:%M")
        else:
            data[bf.html_name] = str(value)
    return data


def _bound_forms(response):
    from visits.forms import CycleEntry

    seen = {}
    for context in response.context or []:
        for layer in context.dicts:
            for value in layer.values():
                if isinstance(value, forms.BaseForm) and value.is_bound:
                    seen[id(value)] = value
                elif isinstance(value, CycleEntry) and value.data is not None:
                    seen[id(value)] = value
    return list(seen.values())


def form_errors(response):
    """The errors shown on a re-rendered form page (empty: none)."""
    from visits.forms import CycleEntry

    errors = []
    for form in _bound_forms(response):
        if isinstance(form, CycleEntry):
            errors += form.reason_errors + form.non_field_errors
            for part in form.forms.values():
                errors += [f"{part.prefix}-{k}: {v}" for k, v in part.errors.items()]
        else:
            errors += [f"{k}: {v}" for k, v in form.errors.items()]
    return errors


def assert_escaped(response):
    content = response.content.decode("utf-8", "replace")
    for marker in RAW_MARKERS:
        assert marker not in content, f"unescaped {marker!r} in {response.request['PATH_INFO']}"


def post_form(client, url, data, *, exclude=()):
    """POST a form; return 'ok' (a redirect) or 'error' (the form again, with errors,
    and nothing stored changed). A 500 is an exception raised here."""
    before = snapshot(exclude)
    response = client.post(url, data)
    assert response.status_code in (200, 302), (response.status_code, url, data)
    assert_escaped(response)
    if response.status_code == 302:
        return "ok", response
    errors = form_errors(response)
    assert errors, f"{url}: 200 without a field error for {data!r}"
    after = snapshot(exclude)
    assert before == after, f"{url}: refused ({errors}) but {changed_tables(before, after)} changed"
    return "error", response


# --- API -----------------------------------------------------------------------------------

def check_error_shape(response):
    body = response.json()
    assert set(body) == {"detail", "code", "errors"}, body
    assert isinstance(body["detail"], str) and isinstance(body["code"], str), body
    assert isinstance(body["errors"], dict), body
    for field, items in body["errors"].items():
        assert isinstance(field, str) and isinstance(items, list) and items, body
        for item in items:
            assert set(item) == {"message", "code"}, body
            assert isinstance(item["message"], str) and isinstance(item["code"], str), body
    return body


def send_api(client, method, url, body, *, allowed=(200, 201, 400), headers=None):
    """Send a JSON body (NaN and Infinity written as JavaScript would, surrogates
    escaped); check the property; return the response."""
    raw = json.dumps(body, allow_nan=True) if not isinstance(body, (bytes, str)) else body
    before = snapshot()
    response = getattr(client, method)(url, raw, content_type="application/json", **(headers or {}))
    assert response.status_code in allowed, (response.status_code, method, url, body, response.content[:500])
    assert response.status_code < 500
    if response.status_code >= 400:
        parsed = check_error_shape(response)
        if response.status_code == 400:
            assert parsed["errors"] or parsed["code"] == "parse_error", parsed
        after = snapshot()
        assert before == after, f"{method} {url} -> {response.status_code} but {changed_tables(before, after)} changed"
    return response


# --- One form, fuzzed ---------------------------------------------------------------------------

def page(client, url, context_name="form", initial=None):
    """The form's field names and what a browser posts for it, plus the given values."""
    from visits.forms import CycleEntry

    response = client.get(url)
    assert response.status_code == 200, url
    entry = response.context.get("entry")
    forms_ = list(entry.forms.values()) if isinstance(entry, CycleEntry) else [response.context[context_name]]
    data, fields = {}, {"change_reason": forms.CharField()} if isinstance(entry, CycleEntry) else {}
    for form in forms_:
        data.update(browser_data(form))
        fields.update({bf.html_name: bf.field for bf in form})
    initial = initial or {}
    data.update(initial)
    for name in initial:
        fields.setdefault(name, None)
    return data, fields


def fuzz_form(client, url, base, names, examples, *, exclude=(), setup=None, baseline="ok"):
    """Post the baseline (it must give ``baseline``), then ``examples`` hostile variants.
    ``setup()`` runs inside each example's savepoint, before the snapshot."""
    from hypothesis import given

    with isolated():
        if setup:
            setup()
        outcome, response = post_form(client, url, base, exclude=exclude)
        assert outcome == baseline, (url, form_errors(response) if outcome == "error" else response.url)

    outcomes = {"ok": 0, "error": 0}

    @hostile_settings(examples)
    @given(changes=overrides(names))
    def run(changes):
        with isolated():
            if setup:
                setup()
            outcome, _ = post_form(client, url, apply(base, changes), exclude=exclude)
            outcomes[outcome] += 1

    run()
    return outcomes
