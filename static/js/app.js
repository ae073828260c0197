// Every page (base.html): a table that scrolls sideways in its .table-responsive box can be
// reached and scrolled with the keyboard (WCAG 2.1.1; axe "scrollable-region-focusable").
(function () {
  "use strict";
  document.querySelectorAll(".table-responsive").forEach(function (box) {
    if (!box.hasAttribute("tabindex")) box.tabIndex = 0;
  });
})();

// A date in a table cell stays on one line: ISO (2026-12-02) or French (02/12/2026); browsers would
// break it at a hyphen or a slash.
(function () {
  "use strict";
  var iso = /\b\d{4}-\d{2}-\d{2}\b|\b\d{2}\/\d{2}\/\d{4}\b/;
  document.querySelectorAll("main td, main dd").forEach(function (cell) {
    var walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    var texts = [];
    while (walker.nextNode()) {
      if (iso.test(walker.currentNode.nodeValue)) texts.push(walker.currentNode);
    }
    texts.forEach(function (node) {
      var parts = node.nodeValue.split(/(\b\d{4}-\d{2}-\d{2}\b|\b\d{2}\/\d{2}\/\d{4}\b)/);
      var fragment = document.createDocumentFragment();
      parts.forEach(function (part, i) {
        if (i % 2 === 1) {
          var span = document.createElement("span");
          span.className = "text-nowrap";
          span.textContent = part;
          fragment.appendChild(span);
        } else if (part) {
          fragment.appendChild(document.createTextNode(part));
        }
      });
      node.parentNode.replaceChild(fragment, node);
    });
  });
})();
