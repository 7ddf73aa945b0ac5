// Waiting room: polls the queue token's status at the interval the server suggests, shows the
// part of the page that fits the status (pre-queue, waiting, sold out) without a reload, and
// moves on by itself once admitted. Without JavaScript a <noscript> refresh does the same job.
(function () {
  "use strict";
  var room = document.getElementById("waiting-room");
  if (!room || !window.fetch) return;

  var statusUrl = room.dataset.statusUrl;
  var token = room.dataset.token;
  var next = room.dataset.next;
  var status = room.dataset.status;
  var reconnecting = false;
  var start = Math.max(1, parseInt(room.dataset.start, 10) || 1);
  var field = function (name) { return room.querySelector('[data-field="' + name + '"]'); };
  var all = function (selector) { return room.querySelectorAll(selector); };

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

  function setText(element, text) {
    // Rewriting the same text would make some screen readers announce it again.
    if (element && element.textContent !== text) element.textContent = text;
  }

  function switchTo(next) {
    Array.prototype.forEach.call(all("[data-state]"), function (part) {
      part.hidden = part.dataset.state.split(" ").indexOf(next) < 0;
    });
    var heading = field("heading");
    setText(heading, heading.getAttribute("data-heading-" + next) || heading.textContent);
    document.title = heading.textContent + " · concertbooking";
    room.dataset.status = next;
  }

  function showFigures(ticket) {
    var position = ticket.position;
    if (position > start) start = position;
    var progress = Math.round((100 * (start - position + 1)) / (start + 1));
    setText(field("position"), position.toLocaleString());
    setText(field("ahead"), (position - 1).toLocaleString());
    if (ticket.status === "sold_out") {
      setText(field("wait"), "unknown");
    } else {
      setText(field("wait"), ticket.estimated_wait_seconds
        ? "about " + duration(ticket.estimated_wait_seconds)
        : "any moment");
    }
    // Sold out says more than a chance of 0% would.
    var chance = ticket.status === "sold_out" ? null : ticket.chance_of_seat;
    Array.prototype.forEach.call(all('[data-figure="chance"]'), function (part) {
      part.hidden = chance === null || chance === undefined;
    });
    if (chance !== null && chance !== undefined) {
      setText(field("chance"), Math.round(chance * 100) + "%");
    }
    var bar = field("progress");
    bar.setAttribute("aria-valuenow", String(progress));
    bar.firstElementChild.style.width = progress + "%";
  }

  // What the live status line says: why the page looks different after a change of status, so
  // a screen reader hears it. The routine "checking again" note sits outside the live region.
  function announcement(ticket, previous) {
    if (ticket.status === "sold_out") return "Sold out right now; your place is kept.";
    if (ticket.status === "waiting" && previous === "scheduled") {
      return "The draw is done: you are number " + ticket.position.toLocaleString() +
        " in the queue.";
    }
    if (ticket.status === "waiting" && previous === "sold_out") {
      return "Seats are available again; your place is kept.";
    }
    return previous === ticket.status ? null : "";
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
          setText(field("status"), "Reconnecting… your place is kept.");
          reconnecting = true;
          schedule(retry);
          return null;
        }
        return response.json();
      })
      .then(function (ticket) {
        if (!ticket) return;
        var previous = status;
        if (ticket.status === "active") {
          setText(field("status"), "It is your turn! Taking you on…");
          room.classList.add("waiting--admitted");
          window.location.assign(next);
          return;
        }
        if (ticket.status === "waiting" || ticket.status === "sold_out") showFigures(ticket);
        if (ticket.status !== previous) {
          switchTo(ticket.status);
          status = ticket.status;
        }
        var said = announcement(ticket, previous);
        if (said !== null) setText(field("status"), said);
        else if (reconnecting) setText(field("status"), "Connected again.");
        reconnecting = false;
        setText(field("next-check"), "Updated just now. Checking again in " +
          duration(ticket.poll_after_seconds) + ".");
        schedule(ticket.poll_after_seconds);
      })
      .catch(function () {
        setText(field("status"), "Reconnecting… your place is kept.");
        reconnecting = true;
        schedule(5);
      });
  }

  schedule(parseInt(room.dataset.poll, 10) || 2);
})();
