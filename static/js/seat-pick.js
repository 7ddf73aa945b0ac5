// Seat map, picking several seats: counts the picked seats and their total as they change, and
// stops at the hold limit. Without it the form still posts every ticked seat.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pick-limit]");
  if (!form) return;
  var limit = parseInt(form.dataset.pickLimit, 10) || 1;
  var boxes = Array.prototype.slice.call(form.querySelectorAll('input[name="seat_ids"]'));
  var count = form.querySelector("[data-picked-count]");
  var total = form.querySelector("[data-picked-total]");
  var submit = form.querySelector("[data-pick-submit]");

  function update() {
    var picked = boxes.filter(function (box) { return box.checked; });
    var sum = picked.reduce(function (acc, box) { return acc + (parseInt(box.dataset.price, 10) || 0); }, 0);
    count.textContent = String(picked.length);
    total.textContent = sum.toLocaleString("en-US");
    var full = picked.length >= limit;
    boxes.forEach(function (box) {
      box.disabled = full && !box.checked;
      box.parentElement.classList.toggle("seat--capped", box.disabled);
    });
    submit.disabled = picked.length === 0;
  }

  form.addEventListener("change", update);
  update();
})();
