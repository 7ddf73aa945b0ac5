// Waiting room: polls the queue token's status at the interval the server suggests and moves on
// by itself once admitted. Without JavaScript a <noscript> refresh does the same job.
(function () {
  "use strict";
  var room = document.getElementById("waiting-room");
  if (!room || !window.fetch) return;

  var statusUrl = room.dataset.statusUrl;
  var token = room.dataset.token;
  var next = room.dataset.next;
  var start = Math.max(1, parseInt(room.dataset.start, 10) || 1);
  var field = function (name) { return room.querySelector('[data-field="' + name + '"]'); };

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    var minutes = Math.floor(seconds / 60);
    var rest = seconds % 60;
    if (minutes < 60) return rest ? minutes + " min " + rest + " s" : minutes + " min";
    var hours = Math.floor(minutes / 60);
    minutes = minutes % 60;
    return minutes ? hours + " h " + minutes + " min" : hours + " h";
  }

  function show(ticket) {
    var position = ticket.position;
    if (position > start) start = position;
    var progress = Math.round((100 * (start - position + 1)) / (start + 1));
    field("position").textContent = position.toLocaleString();
    field("ahead").textContent = (position - 1).toLocaleString();
    field("wait").textContent = ticket.estimated_wait_seconds
      ? "about " + duration(ticket.estimated_wait_seconds)
      : "any moment";
    var bar = field("progress");
    bar.setAttribute("aria-valuenow", String(progress));
    bar.firstElementChild.style.width = progress + "%";
  }

  // Spread each wait by +-20%: a crowd that arrived in the same second would otherwise poll in
  // the same second for as long as it waits.
  function schedule(seconds) {
    window.setTimeout(poll, Math.max(1, seconds) * 1000 * (0.8 + 0.4 * Math.random()));
  }

  function poll() {
    fetch(statusUrl, {
      headers: { "Queue-Token": token, Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (response.status === 403 || response.status === 401) {
          // The place is gone (expired, left elsewhere): the page explains what to do.
          window.location.reload();
          return null;
        }
        if (!response.ok) {
          var retry = parseInt(response.headers.get("Retry-After"), 10) || 5;
          field("status").textContent = "Reconnecting… your place is kept.";
          schedule(retry);
          return null;
        }
        return response.json();
      })
      .then(function (ticket) {
        if (!ticket) return;
        if (ticket.status === "active") {
          field("status").textContent = "It is your turn! Taking you on…";
          room.classList.add("waiting--admitted");
          window.location.assign(next);
          return;
        }
        show(ticket);
        field("status").textContent = "Updated just now. Checking again in " +
          duration(ticket.poll_after_seconds) + ".";
        schedule(ticket.poll_after_seconds);
      })
      .catch(function () {
        field("status").textContent = "Reconnecting… your place is kept.";
        schedule(5);
      });
  }

  schedule(parseInt(room.dataset.poll, 10) || 2);
})();
