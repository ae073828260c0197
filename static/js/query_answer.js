// One-step answers to data queries from an edit form (review/includes/_edit_field_queries.html).
// The answer box posts its own small form (outside the main form); with this script the
// answer is sent in the background, so what the user typed in the main form stays.
// Without it the form posts and the server comes back to the edit form (?next=).
// Its messages come from the JavaScript catalogue (gettext, interpolate: /jsi18n/<lang>/); the
// query's status is the server's label, already in the user's language (oversight's answer view).
(function () {
  "use strict";
  // Flag the fields of a page whose fragments are cached (the cycle page): the thread names
  // its field's id; the generic edit form is flagged by the server already.
  document.querySelectorAll(".query-thread[data-field-id]").forEach(function (thread) {
    var input = thread.dataset.fieldId && document.getElementById(thread.dataset.fieldId);
    if (!input) { return; }
    input.classList.add("has-query");
    var described = (input.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    if (described.indexOf(thread.id) < 0) {
      described.push(thread.id);
      input.setAttribute("aria-describedby", described.join(" "));
    }
  });
  document.querySelectorAll("form.query-answer-form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch || !window.FormData) { return; }
      event.preventDefault();
      var box = document.querySelector('textarea[form="' + form.id + '"]');
      var button = document.querySelector('button[form="' + form.id + '"]');
      var status = button ? button.parentNode.querySelector(".query-answer-status") : null;
      if (button) { button.disabled = true; }
      fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin",
        headers: {"Accept": "application/json"}
      }).then(function (response) {
        return response.json().then(function (data) { return {ok: response.ok && data.ok, data: data}; });
      }).then(function (result) {
        if (result.ok) {
          if (status) {
            status.textContent = interpolate(gettext("Answer sent: the query is now %(status)s."),
                                             {status: result.data.status.toLowerCase()}, true);
          }
          if (box) { box.readOnly = true; }
          if (button) { button.remove(); }
        } else {
          if (status) {
            status.textContent = interpolate(gettext("Not sent: %(error)s"),
                                             {error: result.data.error || gettext("try again.")}, true);
          }
          if (button) { button.disabled = false; }
        }
      }).catch(function () {
        if (status) { status.textContent = gettext("Not sent (connection lost): try again."); }
        if (button) { button.disabled = false; }
      });
    });
  });
}());
