// Queue console: refreshes the live figures (of every room, or of one) every two seconds
// without touching the form.
(function () {
  "use strict";
  var live = document.getElementById("queue-live");
  if (!live || !window.fetch) return;
  function show(scope, stats) {
    if (!stats.available) return;
    Object.keys(stats).forEach(function (name) {
      var cell = scope.querySelector('[data-stat="' + name + '"]');
      if (!cell) return;
      var value = stats[name];
      if (/_seconds$/.test(name)) value = value === null ? "–" : value + " s";
      else if (value === null) value = "–";
      cell.textContent = value;
    });
  }

  function refresh() {
    fetch(live.dataset.url, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (data.rooms) {
          data.rooms.forEach(function (stats) {
            var key = stats.concert_id === null ? "site" : String(stats.concert_id);
            var row = live.querySelector('[data-room="' + key + '"]');
            if (row) show(row, stats);
          });
        } else {
          show(live, data);
        }
      })
      .catch(function () {})
      .then(function () { window.setTimeout(refresh, 2000); });
  }
  window.setTimeout(refresh, 2000);
})();
