// "Back" buttons. The Content-Security-Policy blocks javascript: URLs and
// inline handlers, so any element marked data-back gets its click handler
// here. Load with <script src="/static/back.js" defer>.
(function () {
  "use strict";
  var els = document.querySelectorAll("[data-back]");
  for (var i = 0; i < els.length; i++) {
    els[i].addEventListener("click", function (e) {
      e.preventDefault();
      window.history.back();
    });
  }
})();
