// Sign-up's proof of work: find a nonce whose SHA-256 (with the signed challenge) starts with
// the asked number of zero bits, then let the form be sent (accounts/signup_proof.py checks it).
(function () {
  "use strict";
  var form = document.querySelector("form[data-proof]");
  if (!form) return;
  var challenge = form.dataset.proof;
  var bits = Number(form.dataset.proofBits);
  var nonceField = form.querySelector("input[name=proof_nonce]");
  var status = form.querySelector("[data-proof-status]");
  var button = form.querySelector("button[type=submit]");
  var encoder = new TextEncoder();

  function zeroBits(bytes) {
    var count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { count += 8; continue; }
      return count + Math.clz32(bytes[i]) - 24;
    }
    return count;
  }

  async function solve() {
    for (var nonce = 0; ; nonce++) {
      var data = encoder.encode(challenge + ":" + nonce);
      var digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
      if (zeroBits(digest) >= bits) return nonce;
    }
  }

  solve().then(function (nonce) {
    nonceField.value = String(nonce);
    status.textContent = "Done: you can sign up.";
    button.disabled = false;
  }, function () {
    status.textContent = "This browser cannot run the check; please try another one.";
  });
})();
