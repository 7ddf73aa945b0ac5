// Queue console: refreshes the live figures every two seconds without touching the form.
(function () {
  "use strict";
  var live = document.getElementById("queue-live");
  if (!live || !window.fetch) return;
  function refresh() {
    fetch(live.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (stats) {
        if (!stats || !stats.available) return;
        Object.keys(stats).forEach(function (name) {
          var cell = live.querySelector('[data-stat="' + name + '"]');
          if (!cell) return;
          var value = stats[name];
          if (name === "head_of_line_wait_seconds") value = value === null ? "–" : value + " s";
          cell.textContent = value;
        });
      })
      .catch(function () {})
      .then(function () { window.setTimeout(refresh, 2000); });
  }
  window.setTimeout(refresh, 2000);
})();
