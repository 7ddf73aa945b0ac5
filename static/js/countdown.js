// Checkout: counts the seat hold down from the seconds the server gave (so a wrong clock on the
// buyer's device does not matter) and reloads once the hold is over, so the page says so.
(function () {
  "use strict";
  var timer = document.getElementById("hold-timer");
  if (!timer) return;
  var clock = timer.querySelector("[data-clock]");
  var announce = timer.querySelector("[data-announce]");
  var deadline = Date.now() + (parseInt(timer.dataset.remaining, 10) || 0) * 1000;

  function format(seconds) {
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    return minutes + ":" + (rest < 10 ? "0" : "") + rest;
  }

  function tick() {
    var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    clock.textContent = format(left);
    timer.classList.toggle("hold-timer--urgent", left <= 60);
    if (left === 60 || left === 30) announce.textContent = left + " seconds left to pay.";
    if (left <= 0) {
      window.location.reload();
      return;
    }
    window.setTimeout(tick, 1000 - ((deadline - Date.now()) % 1000 || 0));
  }
  tick();
})();
