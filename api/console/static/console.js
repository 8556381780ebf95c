// rulelog console: the small progressive part. Every page works without it.
// The time control: moving the range shows the position; releasing it reloads the page
// as of that position, with ?at=position:N in the URL so the state can be shared.
(function () {
  "use strict";

  function timeControl() {
    var range = document.getElementById("time-range");
    var output = document.getElementById("time-output");
    if (!range || !output) {
      return;
    }
    var head = range.getAttribute("data-head");
    range.addEventListener("input", function () {
      output.textContent = range.value === head ? "now" : "position " + range.value;
    });
    range.addEventListener("change", function () {
      var url = new URL(window.location.href);
      url.searchParams.delete("pos");
      if (range.value === head) {
        url.searchParams.delete("at");
      } else {
        url.searchParams.set("at", "position:" + range.value);
      }
      window.location.assign(url.toString());
    });
  }

  // A form whose submit button says what it does asks first, when it is marked so.
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    timeControl();
    confirmations();
  });
})();
