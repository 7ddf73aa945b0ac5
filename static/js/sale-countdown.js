// Sale countdowns: count down from the seconds the server gave (so a wrong clock on the buyer's
// device does not matter). Without JavaScript the page shows the time itself.
//   data-remaining  seconds to zero
//   data-done       text announced (and shown) at zero
//   data-reload-in  reload the page after this many seconds (the button it shows has changed)
(function () {
  "use strict";

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  function format(seconds) {
    var days = Math.floor(seconds / 86400);
    var hours = Math.floor((seconds % 86400) / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var clock = (days || hours ? hours + ":" + pad(minutes) : minutes) + ":" + pad(seconds % 60);
    return days ? days + (days === 1 ? " day " : " days ") + clock : clock;
  }

  // A page full of buyers reloading in the same second is a stampede on the server; a few
  // seconds' spread costs nobody a place.
  function reloadSoon(seconds) {
    window.setTimeout(function () { window.location.reload(); },
      (seconds + 1 + 4 * Math.random()) * 1000);
  }

  function start(timer) {
    var clock = timer.querySelector("[data-clock]");
    var announce = timer.querySelector("[data-announce]");
    var deadline = Date.now() + (parseInt(timer.dataset.remaining, 10) || 0) * 1000;
    var reloadIn = parseInt(timer.dataset.reloadIn, 10);
    if (!isNaN(reloadIn)) reloadSoon(reloadIn);

    function tick() {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      clock.textContent = format(left);
      if (left === 60 && announce) announce.textContent = "One minute to go.";
      if (left <= 0) {
        timer.classList.add("countdown--done");
        if (timer.dataset.done) {
          clock.textContent = timer.dataset.done;
          if (announce) announce.textContent = timer.dataset.done;
        }
        return;
      }
      window.setTimeout(tick, 1000 - ((deadline - Date.now()) % 1000 || 0));
    }
    tick();
  }

  Array.prototype.forEach.call(document.querySelectorAll("[data-countdown]"), start);
})();
