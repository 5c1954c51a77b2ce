// Print buttons. The Content-Security-Policy blocks inline handlers
// (onclick="window.print()"), so any element marked data-print gets its
// click handler here. Load with <script src="/static/print.js" defer>.
(function () {
  "use strict";
  var els = document.querySelectorAll("[data-print]");
  for (var i = 0; i < els.length; i++) {
    els[i].addEventListener("click", function (e) {
      e.preventDefault();
      window.print();
    });
  }
})();
