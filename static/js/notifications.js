// The navigation's unread-notifications badge (base.html, logged-in pages): filled from
// /notifications/unread/ after the page loads, so the pages themselves run no query for it.
// Once per page, not polled: a poll would keep an idle session alive past its idle timeout.
(function () {
  "use strict";
  var badge = document.getElementById("nav-unread");
  if (!badge || !window.fetch) return;
  var label = badge.querySelector(".visually-hidden");
  var count = document.createElement("span");
  badge.appendChild(count);
  function refresh() {
    fetch(badge.dataset.url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        count.textContent = data.unread > 99 ? "99+" : String(data.unread);
        badge.classList.toggle("d-none", !data.unread);
        if (label) label.textContent = gettext("unread:") + " ";
      })
      .catch(function () { /* offline or logged out: leave the badge as it is */ });
  }
  refresh();
})();
