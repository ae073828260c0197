// Adverse-event form: a filter box above the coded-term list (CTCAE v5.0), so a term is found
// by any word of its name, its MedDRA code or its system organ class, not only by its first
// letters. The list itself is the form's field: without JavaScript the plain select still works.
// The box's label comes from Django's JavaScript catalogue (gettext).
(function () {
  "use strict";
  var select = document.getElementById("id_coded_term");
  if (!select) { return; }
  var options = Array.prototype.slice.call(select.options);
  var wrapper = document.createElement("div");
  wrapper.className = "mb-1";
  var label = document.createElement("label");
  label.className = "form-label small mb-0";
  label.htmlFor = "id_coded_term_filter";
  label.textContent = gettext("Find a term (name, code or organ class)");
  var box = document.createElement("input");
  box.type = "search";
  box.id = "id_coded_term_filter";
  box.className = "form-control form-control-sm";
  box.setAttribute("autocomplete", "off");
  box.setAttribute("aria-controls", "id_coded_term");
  var count = document.createElement("div");
  count.className = "form-text";
  count.setAttribute("aria-live", "polite");
  wrapper.appendChild(label);
  wrapper.appendChild(box);
  wrapper.appendChild(count);
  select.parentNode.insertBefore(wrapper, select);

  function words(text) { return text.toLowerCase().split(/\s+/).filter(Boolean); }
  box.addEventListener("input", function () {
    var wanted = words(box.value);
    var shown = 0;
    options.forEach(function (option) {
      var keep = !option.value || option.selected ||
        wanted.every(function (word) { return option.text.toLowerCase().indexOf(word) !== -1; });
      option.hidden = !keep;
      if (keep && option.value) { shown += 1; }
    });
    count.textContent = wanted.length ? interpolate(ngettext("%s term", "%s terms", shown), [shown]) : "";
    if (wanted.length && shown === 1) {
      options.forEach(function (option) { if (option.value && !option.hidden) { select.value = option.value; } });
    }
  });
}());
