/* coldwatch dashboard: keeps the tiles live from /api/events/live (Server-Sent Events).
   Each message carries the server's time and the HTML of the tiles that changed, rendered by
   the server exactly as on page load; this script swaps them in and counts the readings' ages
   up every second. When the stream is lost, the whole board says so (not live, values may be
   old) until it is back: the browser reconnects by itself with the last event id. The server
   sends an "alive" event every 10 s: silence for 30 s means not live either (a lost host
   sends no error). A stream the browser gave up on (an error status) is retried by reloading
   the page, and so is a daemon that restarted (another run id: units may have changed). */
(function () {
  "use strict";
  var board = document.querySelector("[data-live-src]");
  if (!board || !window.EventSource) { return; }
  var status = document.getElementById("live-status");
  var offset = 0; /* the server's clock minus this one's, in ms */
  var lastAt = null;
  var heard = Date.now();
  var runId = null;
  var SILENCE_MS = 30000;

  function ageText(s) {
    s = Math.floor(s);
    if (s < 120) { return s + " s ago"; }
    if (s < 7200) { return Math.floor(s / 60) + " min ago"; }
    if (s < 172800) { return Math.floor(s / 3600) + " h ago"; }
    return Math.floor(s / 86400) + " d ago";
  }

  function tickAges() {
    var now = Date.now() + offset;
    board.querySelectorAll(".age[data-ts]").forEach(function (el) {
      var t = Date.parse(el.getAttribute("data-ts"));
      if (!isNaN(t)) { el.textContent = ageText(Math.max(0, (now - t) / 1000)); }
    });
  }

  function say(text, live) {
    status.textContent = text;
    board.classList.toggle("not-live", !live);
  }

  function notLive(why) {
    say("NOT LIVE: " + why +
        (lastAt ? " (last update " + new Date(lastAt).toLocaleTimeString() + ")" : "") +
        "; the values shown may be old. Reconnecting…", false);
  }

  var source = new EventSource(board.getAttribute("data-live-src"));
  source.addEventListener("alive", function () {
    heard = Date.now();
    say("Live: values update by themselves.", true);
  });
  source.addEventListener("tiles", function (event) {
    heard = Date.now();
    var run = (event.lastEventId || "").split("-")[0];
    if (runId && run && run !== runId) { window.location.reload(); return; }
    runId = run || runId;
    var message = JSON.parse(event.data);
    var at = Date.parse(message.at);
    offset = at - Date.now();
    lastAt = message.at;
    Object.keys(message.tiles).forEach(function (id) {
      var old = document.getElementById("tile-" + id);
      if (!old) { return; }
      var holder = document.createElement("template");
      holder.innerHTML = message.tiles[id];
      var fresh = holder.content.firstElementChild;
      if (fresh) { old.replaceWith(fresh); }
    });
    tickAges();
    say("Live: values update by themselves.", true);
  });
  source.addEventListener("open", function () {
    heard = Date.now();
    say("Live: values update by themselves.", true);
  });
  source.addEventListener("error", function () {
    notLive("the connection to coldwatch is lost");
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(function () { window.location.reload(); }, 10000);
    }
  });
  setInterval(function () {
    tickAges();
    if (Date.now() - heard > SILENCE_MS) {
      notLive("no word from coldwatch for " + Math.round((Date.now() - heard) / 1000) + " s");
    }
  }, 1000);
})();
