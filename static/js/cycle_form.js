// Record-cycle page: show the prescribed dose, the planned date and window, and flag a dose or
// rate off target, a start date outside the window or a day 2 that is not the day after day 1,
// while the clinician types. No clinical rule is restated here: the page asks the server's
// preview (visits:cycle_preview, which runs visits/rules.py) and shows its answer; day 2's date
// is filled with the preview's expected date while the clinician has not typed one.
//
// Languages (issue 16): the messages come from Django's JavaScript catalogue (gettext,
// interpolate). The values are sent as the fields show them ("72,5" and dd/mm/yyyy in French):
// the server parses them in the page's language and answers with values formatted for that
// language (day 2's date in the field's own format). Nothing here parses a number or a date.
(function () {
  "use strict";
  var form = document.getElementById("cycle-form");
  if (!form || !form.dataset.previewUrl) { return; }
  var DASH = "—";
  var DOSE_ROLES = ["dose", "volume", "concentration"];
  var timer = null;
  var latest = 0;

  function input(role) { return form.querySelector("[data-role='" + role + "']"); }
  function value(el) { return el && el.value ? el.value.trim() : ""; }
  function text(id, v) { var el = document.getElementById(id); if (el) { el.textContent = v === null || v === undefined ? DASH : v; } }
  function box(day) { return form.querySelector("fieldset[data-day='" + day + "']"); }
  function dayDate(day) { var b = box(day); return b ? b.querySelector("[data-role='date']") : null; }
  function status(el, message, tone) {
    if (!el) { return; }
    el.textContent = message || "";
    el.className = el.className.replace(/\s*(text-danger|text-success|fw-semibold)/g, "") +
      (message ? (tone === "bad" ? " text-danger fw-semibold" : " text-success") : "");
  }

  // Day 2's date: the preview's expected date (day 1 + 1) until the clinician types one.
  var day2 = dayDate(2);
  var day2Typed = !!value(day2);
  var day2Filled = "";
  if (day2) {
    // Typed (or cleared: day 2 not given) by the clinician: never filled again.
    day2.addEventListener("input", function () { day2Typed = true; day2Filled = ""; });
  }

  function query() {
    var params = new URLSearchParams();
    function add(name, v) { if (v !== "") { params.append(name, v); } }
    add("cycle", form.dataset.cycleNumber || "");
    add("weight_kg", value(input("weight")));
    add("height_cm", value(input("height")));
    add("dosing_basis", value(input("basis")));
    add("start_date", value(form.querySelector("input[name$='start_date']")));
    form.querySelectorAll("fieldset[data-day]").forEach(function (b) {
      var day = b.dataset.day;
      add("day" + day + "_date", value(b.querySelector("[data-role='date']")));
      add("day" + day + "_dose_g", value(b.querySelector("[data-role='dose']")));
      add("day" + day + "_rate", value(b.querySelector("[data-role='rate']")));
    });
    form.querySelectorAll("[data-role='grade']").forEach(function (el) {
      add(el.name.split("-").pop(), value(el));
    });
    return params.toString();
  }

  function showSchedule(p) {
    var s = p.schedule;
    var out = document.getElementById("window-check");
    if (!s || s.within_window === null) {
      status(out, "");
    } else if (s.within_window) {
      status(out, interpolate(gettext("Start date within the window (%(offset)s days from the planned %(planned)s)."),
                              { offset: (s.offset_days > 0 ? "+" : "") + s.offset_days, planned: s.planned_date }, true),
             "good");
    } else {
      status(out, interpolate(gettext("Outside the visit window: %(message)s"), { message: s.message }, true), "bad");
    }
    var d = p.day2 || {};
    if (day2 && !day2Typed && d.expected_date !== undefined) {
      var wanted = d.expected_date || "";
      if (value(day2) !== wanted && (wanted || day2Filled)) {
        day2.value = wanted;
        day2Filled = wanted;
        later();  // ask again: the filled day 2 is checked too
      }
    }
    var check = document.getElementById("day2-check");
    if (d.consecutive === false) {
      status(check, d.message, "bad");
    } else if (d.consecutive === true) {
      status(check, day2Filled && value(day2) === day2Filled ?
        gettext("Day 2 is the day after day 1 (filled in: check it).") : gettext("Day 2 is the day after day 1."), "good");
    } else {
      status(check, "");
    }
  }

  function show(p) {
    text("dosing-weight", p.dosing_weight_kg);
    text("prescribed-daily", p.prescribed_daily_dose_g);
    text("prescribed-cycle", p.prescribed_cycle_dose_g);
    text("max-rate-mlh", p.max_rate_ml_per_h);
    text("rate-limit", p.rate_limit_ml_per_kg_min);
    text("rate-risk", p.at_risk ? gettext(", renal or thrombotic risk") : "");
    text("mmt-total", p.mmt_total === null ? null : String(p.mmt_total));
    showSchedule(p);
    form.querySelectorAll(".dose-check[data-day]").forEach(function (out) {
      var d = p.days[out.dataset.day] || {};
      var notes = [], off = false;
      // One dose status per day: while a saved error on the dose, volume or concentration stands
      // (not edited since), that error is the status; the preview's judgement is not shown.
      if (!out.dataset.doseError) {
        if (d.dose_status === "within") {
          notes.push(interpolate(gettext("Dose within %(tolerance)s % of the prescription"),
                                 { tolerance: p.dose_tolerance_pct }, true));
        } else if (d.dose_status) {
          off = true;
          var offFormat = d.dose_status === "under" ?
            gettext("Under-dose: %(given)s g vs %(prescribed)s g prescribed (%(difference)s %)") :
            gettext("Over-dose: %(given)s g vs %(prescribed)s g prescribed (%(difference)s %)");
          notes.push(interpolate(offFormat, { given: d.dose_g, prescribed: p.prescribed_daily_dose_g,
                                              difference: d.dose_difference_pct }, true));
        }
      }
      if (d.rate_within_limit === false) {
        off = true;
        notes.push(interpolate(gettext("Rate %(rate)s mL/kg/min, above %(limit)s mL/kg/min"),
                               { rate: d.rate_ml_per_kg_min, limit: p.rate_limit_ml_per_kg_min }, true));
      }
      status(out, notes.join(" · "), off ? "bad" : "good");
    });
  }

  // Editing the dose, volume or concentration of a day with a saved error on one of them: the
  // error is out of date (saving checks again), so it is cleared and the live status takes over.
  form.addEventListener("input", function (event) {
    var el = event.target;
    var fieldset = el.closest ? el.closest("fieldset[data-day]") : null;
    if (!fieldset || DOSE_ROLES.indexOf(el.dataset.role) < 0) { return; }
    var out = fieldset.querySelector(".dose-check");
    if (!out || !out.dataset.doseError) { return; }
    delete out.dataset.doseError;
    DOSE_ROLES.forEach(function (role) {
      var field = fieldset.querySelector("[data-role='" + role + "']");
      if (!field || !field.classList.contains("is-invalid")) { return; }
      field.classList.remove("is-invalid");
      field.removeAttribute("aria-invalid");
      var error = document.getElementById(field.id + "_error");
      if (error) { error.classList.add("d-none"); }
      field.removeAttribute("aria-describedby");
    });
  });

  // A day 2 holding only the filled-in date (nothing else typed) was not given: it is sent empty.
  form.addEventListener("submit", function () {
    if (!day2 || day2Typed || !day2Filled || value(day2) !== day2Filled) { return; }
    var touched = Array.prototype.some.call(box(2).querySelectorAll("input, select, textarea"), function (el) {
      if (el === day2 || el.type === "hidden") { return false; }
      if (el.tagName === "SELECT") {
        return Array.prototype.some.call(el.options, function (o) { return o.selected !== o.defaultSelected; });
      }
      return el.value !== el.defaultValue;
    });
    if (!touched) { day2.value = ""; }
  });

  function refresh() {
    var ticket = ++latest;
    fetch(form.dataset.previewUrl + "?" + query(), {
      credentials: "same-origin", headers: { "Accept": "application/json" }
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (preview) {
      if (preview && ticket === latest) { show(preview); }  // an older answer never overwrites a newer one
    }).catch(function () { /* the preview is a help; saving runs the rules anyway */ });
  }

  function later() { clearTimeout(timer); timer = setTimeout(refresh, 200); }
  form.addEventListener("input", later);
  form.addEventListener("change", later);
  refresh();
})();
