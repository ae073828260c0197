/* Progress of the files background jobs make (templates/jobs/includes/_job_files.html):
   each active file's status JSON (jobs:file_status) is polled every POLL_MS until the job
   stops; the bar shows units written of the total, the state is announced (aria-live),
   Download appears when the file is ready, the error when it failed. No inline script.
   Text through Django's JavaScript catalogue (gettext, interpolate: /jsi18n/, loaded by base.html). */
(function () {
  "use strict";
  var POLL_MS = 750;

  function show(element, visible) {
    if (element) { element.hidden = !visible; }
  }

  function update(item, state) {
    var bar = item.querySelector("[data-job-bar]");
    var count = item.querySelector("[data-job-count]");
    var status = item.querySelector("[data-job-status]");
    var error = item.querySelector("[data-job-error]");
    var download = item.querySelector("[data-job-download]");
    var total = state.total;
    var done = state.status === "done" && total ? total : state.done;
    if (bar) {
      if (total) {
        bar.max = total;
        bar.value = Math.min(done, total);
      } else if (state.status === "done") {
        bar.max = 1;
        bar.value = 1;
      } else {
        bar.removeAttribute("value"); /* indeterminate while the total is unknown */
      }
      bar.textContent = state.percent + "%";
    }
    if (count) {
      count.textContent = interpolate(gettext("%(done)s of %(total)s %(unit)s (%(percent)s%)"), {
        done: done, total: total === null ? "?" : total, unit: state.unit_display || state.unit,
        percent: state.percent
      }, true);
    }
    if (status && status.textContent !== state.status_display) {
      status.textContent = state.status_display; /* only a change is announced */
    }
    item.setAttribute("data-status", state.status);
    item.setAttribute("data-active", state.active ? "true" : "false");
    if (error) {
      error.textContent = state.error || "";
      show(error, state.status === "failed");
    }
    if (download) {
      if (state.download_url) { download.setAttribute("href", state.download_url); }
      show(download, Boolean(state.download_url));
    }
    var sha = item.querySelector("[data-job-sha]");
    if (sha && state.sha256) {
      sha.textContent = "SHA-256 ";
      var code = document.createElement("code");
      code.textContent = state.sha256;
      sha.appendChild(code);
      show(sha, true);
    }
    show(item.querySelector("[data-job-cancel]"), state.active);
  }

  function poll(item) {
    var url = item.getAttribute("data-status-url");
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (!state) { return; }
        update(item, state);
        if (state.active) { window.setTimeout(function () { poll(item); }, POLL_MS); }
      })
      .catch(function () { window.setTimeout(function () { poll(item); }, POLL_MS * 4); });
  }

  document.querySelectorAll("[data-job-file][data-active='true']").forEach(poll);
}());
