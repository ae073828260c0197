// A form page with errors: move the focus to the error summary (templates/includes/_error_summary.html)
// or, without one, to the first invalid field; a link of the summary focuses its field.
(function () {
  "use strict";
  var summary = document.getElementById("error-summary");
  var target = summary || document.querySelector(".is-invalid");
  if (target) { target.focus(); }
  if (!summary) { return; }
  summary.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-field]");
    if (!link) { return; }
    var field = document.getElementById(link.dataset.field);
    if (!field) { return; }
    event.preventDefault();
    field.scrollIntoView({ block: "center" });
    field.focus();
  });
})();
