// The officer's screen: the PIN pad, and on the secure side the inactivity countdown and the
// one-second poll that follows the agent (a lock, a leave or IT's wipe shows within 2 s and
// takes the page to one that holds no police data).
"use strict";

(function () {
  function padTarget() {
    var active = document.activeElement;
    if (active && active.dataset && active.dataset.pad === "pin") {
      return active;
    }
    var fields = document.querySelectorAll("[data-pad=pin]");
    for (var i = 0; i < fields.length; i += 1) {
      if (fields[i].value.length === 0 || i === fields.length - 1) {
        return fields[i];
      }
    }
    return null;
  }

  var lastPin = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.dataset && event.target.dataset.pad === "pin") {
      lastPin = event.target;
    }
  });

  document.querySelectorAll(".key").forEach(function (key) {
    key.addEventListener("mousedown", function (event) {
      event.preventDefault(); // keep the focus on the PIN field
    });
    key.addEventListener("click", function () {
      var field = lastPin || padTarget();
      if (!field) {
        return;
      }
      var what = key.dataset.key;
      if (what === "clear") {
        field.value = "";
      } else if (what === "back") {
        field.value = field.value.slice(0, -1);
      } else if (field.value.length < 12) {
        field.value += what;
      }
    });
  });

  if (document.body.dataset.watch !== "secure") {
    return;
  }
  var countdown = document.getElementById("countdown");
  var live = document.getElementById("live");
  var gone = false;

  function minutes(seconds) {
    var m = Math.floor(seconds / 60);
    var s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function follow(state) {
    if (state.secure_side !== "open") {
      if (gone) {
        return;
      }
      gone = true;
      var main = document.getElementById("main");
      main.replaceChildren(); // police data leaves the page at once
      live.textContent = state.message || "The secure side is locked.";
      window.location.replace("/locked");
      return;
    }
    if (state.seconds_left !== null) {
      countdown.textContent = "Locks in " + minutes(state.seconds_left);
      countdown.classList.toggle("soon", state.seconds_left <= 60);
      if (state.seconds_left === 60) {
        live.textContent = "The secure side locks in one minute unless you use it.";
      }
    }
  }

  function poll() {
    fetch("/state", { credentials: "same-origin", cache: "no-store" })
      .then(function (answer) {
        return answer.ok ? answer.json() : { secure_side: "locked", message: null };
      })
      .then(follow)
      .catch(function () {});
  }
  poll();
  window.setInterval(poll, 1000);
})();
