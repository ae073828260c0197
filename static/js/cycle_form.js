// Record-cycle page: show the prescribed dose (1 g/kg x dosing weight) and flag a
// dose or rate off target while the clinician types. The server is the authority:
// the same rules run in visits/rules.py when the form is saved.
(function () {
  "use strict";
  var form = document.getElementById("cycle-form");
  if (!form) { return; }
  var sex = form.dataset.sex;
  var tolerance = parseFloat(form.dataset.tolerance) / 100;
  var maxRate = parseFloat(form.dataset.maxRate);
  function input(role) { return form.querySelector("[data-role='" + role + "']"); }
  function num(el) { var v = el ? parseFloat(el.value) : NaN; return isNaN(v) ? null : v; }
  function round1(v) { return Math.round(v * 10) / 10; }

  function dosingWeight() {
    var weight = num(input("weight"));
    if (weight === null || weight <= 0) { return null; }
    var basis = input("basis") ? input("basis").value : "actual";
    if (basis !== "adjusted") { return round1(weight); }
    var height = num(input("height"));
    if (height === null) { return null; }
    var ibw = (sex === "M" ? 50 : 45.5) + 2.3 * (height / 2.54 - 60);
    return round1(weight <= ibw ? weight : ibw + 0.4 * (weight - ibw));
  }

  function text(id, value) { var el = document.getElementById(id); if (el) { el.textContent = value; } }

  function update() {
    var dw = dosingWeight();
    var weight = num(input("weight"));
    var daily = dw === null ? null : round1(dw);
    text("dosing-weight", dw === null ? "—" : dw.toFixed(1));
    text("prescribed-daily", daily === null ? "—" : daily.toFixed(1));
    text("prescribed-cycle", daily === null ? "—" : (daily * 2).toFixed(1));
    text("max-rate-mlh", weight ? round1(maxRate * weight * 60).toFixed(1) : "—");
    form.querySelectorAll("fieldset[data-day]").forEach(function (box) {
      var day = box.dataset.day;
      var dose = num(box.querySelector("[data-role='dose']"));
      var rate = num(box.querySelector("[data-role='rate']"));
      var out = form.querySelector(".dose-check[data-day='" + day + "']");
      var notes = [];
      if (daily !== null && dose !== null) {
        var diff = (dose - daily) / daily;
        if (Math.abs(diff) > tolerance + 1e-9) {
          notes.push((diff < 0 ? "Under-dose" : "Over-dose") + ": " + dose + " g vs " + daily.toFixed(1) +
                     " g prescribed (" + (diff * 100).toFixed(1) + " %)");
        } else {
          notes.push("Dose within " + (tolerance * 100) + " % of the prescription");
        }
      }
      if (weight && rate !== null && rate / 60 / weight > maxRate + 1e-9) {
        notes.push("Rate above " + maxRate + " mL/kg/min");
      }
      out.textContent = notes.join(" · ");
      out.className = "small dose-check " + (notes.some(function (n) { return /Under|Over|above/.test(n); })
        ? "text-danger fw-semibold" : "text-success");
    });
    var total = 0, complete = true;
    form.querySelectorAll("[data-role='grade']").forEach(function (el) {
      var v = num(el); if (v === null) { complete = false; } else { total += v; }
    });
    text("mmt-total", complete ? String(total) : "—");
  }
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
