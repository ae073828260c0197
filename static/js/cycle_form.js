// Record-cycle page: show the prescribed dose and flag a dose or rate off target while
// the clinician types. No clinical rule is restated here: the page asks the server's
// preview (visits:cycle_preview, which runs visits/rules.py) and shows its answer.
(function () {
  "use strict";
  var form = document.getElementById("cycle-form");
  if (!form || !form.dataset.previewUrl) { return; }
  var DASH = "—";
  var timer = null;
  var latest = 0;

  function input(role) { return form.querySelector("[data-role='" + role + "']"); }
  function value(el) { return el && el.value ? el.value.trim() : ""; }
  function text(id, v) { var el = document.getElementById(id); if (el) { el.textContent = v === null || v === undefined ? DASH : v; } }

  function query() {
    var params = new URLSearchParams();
    function add(name, v) { if (v !== "") { params.append(name, v); } }
    add("weight_kg", value(input("weight")));
    add("height_cm", value(input("height")));
    add("dosing_basis", value(input("basis")));
    add("start_date", value(form.querySelector("input[name$='start_date']")));
    form.querySelectorAll("fieldset[data-day]").forEach(function (box) {
      var day = box.dataset.day;
      add("day" + day + "_dose_g", value(box.querySelector("[data-role='dose']")));
      add("day" + day + "_rate", value(box.querySelector("[data-role='rate']")));
    });
    form.querySelectorAll("[data-role='grade']").forEach(function (el) {
      add(el.name.split("-").pop(), value(el));
    });
    return params.toString();
  }

  function show(p) {
    text("dosing-weight", p.dosing_weight_kg);
    text("prescribed-daily", p.prescribed_daily_dose_g);
    text("prescribed-cycle", p.prescribed_cycle_dose_g);
    text("max-rate-mlh", p.max_rate_ml_per_h);
    text("rate-limit", p.rate_limit_ml_per_kg_min);
    text("rate-risk", p.at_risk ? ", renal or thrombotic risk" : "");
    text("mmt-total", p.mmt_total === null ? null : String(p.mmt_total));
    form.querySelectorAll(".dose-check[data-day]").forEach(function (out) {
      var d = p.days[out.dataset.day] || {};
      var notes = [], off = false;
      if (d.dose_status === "within") {
        notes.push("Dose within " + p.dose_tolerance_pct + " % of the prescription");
      } else if (d.dose_status) {
        off = true;
        notes.push((d.dose_status === "under" ? "Under-dose" : "Over-dose") + ": " + d.dose_g + " g vs " +
                   p.prescribed_daily_dose_g + " g prescribed (" + d.dose_difference_pct + " %)");
      }
      if (d.rate_within_limit === false) {
        off = true;
        notes.push("Rate " + d.rate_ml_per_kg_min + " mL/kg/min, above " + p.rate_limit_ml_per_kg_min + " mL/kg/min");
      }
      out.textContent = notes.join(" · ");
      out.className = "small dose-check " + (off ? "text-danger fw-semibold" : "text-success");
    });
  }

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
