// Every page (base.html): a table that scrolls sideways in its .table-responsive box can be
// reached and scrolled with the keyboard (WCAG 2.1.1; axe "scrollable-region-focusable").
(function () {
  "use strict";
  document.querySelectorAll(".table-responsive").forEach(function (box) {
    if (!box.hasAttribute("tabindex")) box.tabIndex = 0;
  });
})();
