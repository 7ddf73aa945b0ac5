// The door page's camera scan, where the browser can read QR codes itself (BarcodeDetector):
// the code found goes into the form, which is sent. Without it the page works as typed or
// with a hardware scanner, which types the code and Enter.
(function () {
  "use strict";
  var start = document.querySelector("[data-camera-start]");
  if (!start || !("BarcodeDetector" in window) || !navigator.mediaDevices) {
    return;
  }
  var form = document.getElementById("check-in-form");
  var input = document.getElementById("check-in-code");
  var panel = document.querySelector("[data-camera]");
  var video = document.querySelector("[data-camera-video]");
  var detector;
  try {
    detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  } catch (e) {
    return;
  }
  start.hidden = false;

  start.addEventListener("click", function () {
    start.disabled = true;
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (stream) {
        panel.hidden = false;
        video.srcObject = stream;
        return video.play().then(function () {
          scan(stream);
        });
      })
      .catch(function () {
        start.disabled = false;
        start.textContent = "Camera not available";
      });
  });

  function scan(stream) {
    detector
      .detect(video)
      .then(function (codes) {
        if (codes.length) {
          stream.getTracks().forEach(function (track) {
            track.stop();
          });
          input.value = codes[0].rawValue;
          form.submit();
          return;
        }
        window.setTimeout(function () {
          scan(stream);
        }, 200);
      })
      .catch(function () {
        window.setTimeout(function () {
          scan(stream);
        }, 500);
      });
  }
})();
