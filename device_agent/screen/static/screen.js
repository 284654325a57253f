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

  // The witness's signature: each stroke the pad's own pixels the finger passed through.
  function signaturePad(canvas) {
    var field = document.getElementById("signature");
    var maxPoints = parseInt(canvas.dataset.maxPoints, 10);
    var maxStrokes = parseInt(canvas.dataset.maxStrokes, 10);
    var strokes = [];
    var points = 0;
    var drawing = null;
    var pen = canvas.getContext("2d");
    var width = Math.max(1, Math.round(canvas.clientWidth));
    var height = Math.max(1, Math.round(canvas.clientHeight));
    var scale = window.devicePixelRatio || 1;
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    pen.scale(scale, scale);
    pen.lineWidth = 3;
    pen.lineCap = "round";
    pen.lineJoin = "round";
    pen.strokeStyle = "#0b0c0c";

    function at(event) {
      var box = canvas.getBoundingClientRect();
      var x = Math.round(((event.clientX - box.left) * width) / box.width);
      var y = Math.round(((event.clientY - box.top) * height) / box.height);
      return [Math.min(width, Math.max(0, x)), Math.min(height, Math.max(0, y))];
    }
    function keep() {
      field.value = strokes.length
        ? JSON.stringify({ width: width, height: height, strokes: strokes })
        : "";
    }
    function add(point) {
      var last = drawing[drawing.length - 1];
      if (last && last[0] === point[0] && last[1] === point[1]) {
        return;
      }
      if (points >= maxPoints) {
        return;
      }
      drawing.push(point);
      points += 1;
      pen.beginPath();
      pen.moveTo((last || point)[0], (last || point)[1]);
      pen.lineTo(point[0], point[1]);
      pen.stroke();
    }
    canvas.addEventListener("pointerdown", function (event) {
      if (strokes.length >= maxStrokes) {
        return;
      }
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      var unsigned = document.querySelector("[data-until-signed]");
      if (unsigned) {
        unsigned.remove(); // "not signed yet" no longer holds
      }
      drawing = [];
      strokes.push(drawing);
      add(at(event));
    });
    canvas.addEventListener("pointermove", function (event) {
      if (drawing) {
        add(at(event));
      }
    });
    function end() {
      if (drawing && drawing.length === 0) {
        strokes.pop();
      }
      drawing = null;
      keep();
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    document.getElementById("signature-clear").addEventListener("click", function () {
      strokes = [];
      points = 0;
      drawing = null;
      pen.clearRect(0, 0, width, height);
      keep();
    });
  }
  var pad = document.getElementById("signature-pad");
  if (pad) {
    signaturePad(pad);
  }

  if (document.body.dataset.watch !== "secure") {
    return;
  }

  // Switching to the personal side (the page going hidden) locks the secure side. A page
  // going to the next page of the screen goes hidden too, but asks "beforeunload" first.
  var navigating = false;
  window.addEventListener("beforeunload", function () {
    navigating = true;
  });
  window.addEventListener("pageshow", function () {
    navigating = false;
  });
  document.addEventListener("visibilitychange", function () {
    var token = document.querySelector(".leave input[name=csrf]");
    if (document.visibilityState !== "hidden" || navigating || !token) {
      return;
    }
    document.getElementById("main").replaceChildren();
    fetch("/leave", {
      method: "POST",
      credentials: "same-origin",
      keepalive: true,
      body: new URLSearchParams({ csrf: token.value, why: "switched_to_personal" }),
    }).catch(function () {});
  });
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
      // A page already on its way (Leave pressed, a form sent) lands where the server sends
      // it; replacing it here would cancel that and rewrite the history behind it.
      if (!navigating) {
        window.location.replace("/locked");
      }
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
