// rulelog console: the small progressive part. Every page works without it.
// The time control: moving the range shows the position; releasing the pointer reloads the
// page as of that position, with ?at=position:N in the URL so the state can be shared.
// From the keyboard, arrows move it and Enter (or the Go button) loads that position.
(function () {
  "use strict";

  function timeControl() {
    var range = document.getElementById("time-range");
    var output = document.getElementById("time-output");
    if (!range || !output) {
      return;
    }
    var head = range.getAttribute("data-head");
    var pointing = false;
    function go() {
      var url = new URL(window.location.href);
      url.searchParams.delete("pos");
      if (range.value === head) {
        url.searchParams.delete("at");
      } else {
        url.searchParams.set("at", "position:" + range.value);
      }
      window.location.assign(url.toString());
    }
    range.addEventListener("pointerdown", function () {
      pointing = true;
    });
    range.addEventListener("input", function () {
      output.textContent = range.value === head ? "now" : "position " + range.value;
    });
    range.addEventListener("change", function () {
      if (pointing) {
        go();
      }
    });
    range.form.addEventListener("submit", function (event) {
      event.preventDefault();
      go();
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
