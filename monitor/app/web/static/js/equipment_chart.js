/* The equipment page's chart: fetches /api/equipment/{id}/chart and draws it with uPlot
   (vendored, static/vendor/uplot). Gaps stay gaps (null values break the line; uPlot only
   bridges its own alignment artifacts, never a null), limits are step lines that change where
   a configuration version changed them, alarm periods are hatched bands with their code
   written in them and listed in text below. Zoom: drag across the chart (the data is fetched
   again for the window, so it gets finer); the buttons pick a range or move by half of it.
   No inline script: the console's CSP allows scripts from 'self' only. */
(function () {
  "use strict";

  var PALETTE = ["#0b4f8a", "#8a3b0b", "#3b7a0b", "#6a0b8a", "#0b7a7a", "#7a0b3b"];
  var LIMIT_COLOURS = { critical: "#a40e26", high: "#9a6700", low: "#57606a" };

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fmtTime(seconds, zone) {
    try {
      return new Date(seconds * 1000).toLocaleString("en-GB", { timeZone: zone, hour12: false });
    } catch (e) {
      return new Date(seconds * 1000).toISOString();
    }
  }

  function Chart(box) {
    this.box = box;
    this.src = box.getAttribute("data-src");
    this.zone = box.getAttribute("data-timezone") || "UTC";
    this.status = document.getElementById("chart-status");
    this.alarmList = document.getElementById("chart-alarms");
    this.plot = null;
    this.range = box.getAttribute("data-range") || "24h";
    this.window = null; /* [from, to] seconds when zoomed or moved, else null */
    this.shown = null;
    this.load();
  }

  Chart.prototype.url = function () {
    if (!this.window) return this.src + "?range=" + encodeURIComponent(this.range);
    var span = Math.max(60, Math.round(this.window[1] - this.window[0]));
    return this.src + "?span=" + span + "&end=" + encodeURIComponent(new Date(this.window[1] * 1000).toISOString());
  };

  Chart.prototype.load = function () {
    var self = this;
    self.status.textContent = "Loading the chart…";
    fetch(self.url(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) {
        return r.json().then(function (body) {
          if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
          return body;
        });
      })
      .then(function (data) { self.draw(data); })
      .catch(function (err) { self.status.textContent = "The chart could not be loaded: " + err.message; });
  };

  Chart.prototype.draw = function (data) {
    var self = this;
    var from = Date.parse(data.from) / 1000, to = Date.parse(data.to) / 1000;
    self.shown = [from, to];
    var bucketed = data.bucket_seconds !== null;
    var tables = [], series = [{}], bands = [], scales = { x: { time: true } }, axes = [{}];
    var units = [], gaps = 0, envelope = [];
    data.channels.forEach(function (ch, i) {
      var p = ch.points, colour = PALETTE[i % PALETTE.length];
      var unit = ch.unit || "value";
      if (units.indexOf(unit) < 0) {
        units.push(unit);
        scales[unit] = { auto: true };
        axes.push({ scale: unit, label: unit, side: units.length === 1 ? 3 : 1, grid: { show: units.length === 1 } });
      }
      p.v.forEach(function (v) { if (v === null) gaps += 1; });
      var fmt = function (u, v) {
        return v == null ? "—" : (ch.decimals != null ? v.toFixed(ch.decimals) : String(v)) + " " + ch.unit;
      };
      var base = series.length;
      if (bucketed) {
        tables.push([p.t, p.v, p.max, p.min]);
        series.push({ label: ch.name + " (mean, band: min–max)", scale: unit, stroke: colour, width: 1.5, value: fmt });
        series.push({ label: ch.name + " max", scale: unit, stroke: colour + "66", width: 1, value: fmt });
        series.push({ label: ch.name + " min", scale: unit, stroke: colour + "66", width: 1, value: fmt });
        envelope.push(base + 1, base + 2);
        bands.push({ series: [base + 1, base + 2], fill: colour + "22" });
      } else {
        tables.push([p.t, p.v]);
        series.push({ label: ch.name, scale: unit, stroke: colour, width: 1.5, value: fmt, points: { show: false } });
      }
    });
    var unitOf = {};
    data.channels.forEach(function (ch) { unitOf[ch.id] = ch.unit || "value"; });
    data.limits.forEach(function (lim) {
      var ts = lim.steps.map(function (s) { return s[0]; });
      var vs = lim.steps.map(function (s) { return s[1]; });
      tables.push([ts, vs]);
      series.push({
        label: lim.rule.split("/").pop() + " " + lim.level.replace("_", "-") + " limit (" + lim.priority + ")",
        scale: unitOf[lim.channel], stroke: LIMIT_COLOURS[lim.priority] || "#57606a", width: 1.5,
        dash: [6, 4], paths: uPlot.paths.stepped({ align: 1 }), points: { show: false },
      });
    });
    var joined = tables.length ? uPlot.join(tables) : [[]];
    var opts = {
      width: self.box.clientWidth || 600,
      height: Math.max(220, Math.min(420, Math.round((self.box.clientWidth || 600) * 0.55))),
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), self.zone); },
      scales: scales, axes: axes, series: series, bands: bands,
      cursor: { drag: { x: true, y: false, setScale: false } },
      legend: { live: false },
      hooks: {
        setSelect: [function (u) {
          if (u.select.width < 5) return;
          var a = u.posToVal(u.select.left, "x"), b = u.posToVal(u.select.left + u.select.width, "x");
          u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
          self.window = [a, b];
          self.load();
        }],
        draw: [function (u) { self.shade(u, data.alarms); }],
      },
    };
    scales.x.range = function () { return [from, to]; };
    if (self.plot) self.plot.destroy();
    self.box.textContent = "";
    self.plot = new uPlot(opts, joined, self.box);
    /* the min/max lines are the band around their mean: one legend entry, "(mean)", says so */
    var rows = self.box.querySelectorAll(".u-legend .u-series");
    var offset = rows.length === series.length ? 0 : 1; /* no x row when the legend is not live */
    envelope.forEach(function (i) { if (rows[i - offset]) rows[i - offset].classList.add("envelope"); });
    self.describe(data, gaps);
  };

  Chart.prototype.shade = function (u, alarms) {
    var over = u.over;
    Array.prototype.slice.call(over.querySelectorAll(".alarm-band")).forEach(function (n) { n.remove(); });
    alarms.forEach(function (a) {
      var left = Math.max(0, u.valToPos(a.from, "x"));
      var right = Math.min(over.clientWidth, u.valToPos(a.to === null ? this.shown[1] : a.to, "x"));
      if (!(right > left)) return;
      var band = el("div", { class: "alarm-band alarm-" + a.priority, title: "Alarm " + (a.code || a.key) });
      band.style.left = left + "px";
      band.style.width = Math.max(2, right - left) + "px";
      var label = el("span", {}, "⚠ " + (a.code || "alarm"));
      if (left > over.clientWidth - 80) { label.style.left = "auto"; label.style.right = "4px"; }
      band.appendChild(label);
      over.appendChild(band);
    }, this);
  };

  Chart.prototype.describe = function (data, gaps) {
    var self = this;
    var what = data.resolution === "raw" ? "every reading" : data.resolution + " buckets of the roll-up (mean, with min and max)";
    self.status.textContent = "Showing " + fmtTime(self.shown[0], self.zone) + " to " + fmtTime(self.shown[1], self.zone) +
      " (" + self.zone + "), " + what + ": " + data.channels.map(function (c) { return c.name; }).join(", ") +
      ". " + gaps + " gap(s) in the lines; " + data.alarms.length + " alarm period(s); " +
      data.limits.length + " limit line(s) from " + data.config_versions.length + " configuration version(s).";
    self.alarmList.textContent = "";
    if (!data.alarms.length) { self.alarmList.appendChild(el("li", {}, "none")); return; }
    data.alarms.forEach(function (a) {
      var li = el("li", { class: "alarm-period" });
      if (a.code) li.appendChild(el("a", { href: "/alarms/" + encodeURIComponent(a.code) }, a.code));
      else li.appendChild(document.createTextNode(a.key));
      li.appendChild(document.createTextNode(" · " + a.priority + " · " + a.condition + " · " +
        fmtTime(a.from, self.zone) + " – " + (a.to === null ? "still active" : fmtTime(a.to, self.zone))));
      self.alarmList.appendChild(li);
    });
  };

  Chart.prototype.pick = function (range) {
    this.range = range;
    this.window = null;
    Array.prototype.forEach.call(document.querySelectorAll("button.range"), function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-range") === range ? "true" : "false");
    });
    this.load();
  };

  Chart.prototype.pan = function (direction) {
    if (!this.shown) return;
    var span = this.shown[1] - this.shown[0], now = Date.now() / 1000;
    var a = this.shown[0] + direction * span / 2, b = a + span;
    if (b > now) { a = now - span; b = now; }
    this.window = [a, b];
    this.load();
  };

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("chart");
    if (!box || typeof uPlot === "undefined") return;
    var chart = new Chart(box);
    Array.prototype.forEach.call(document.querySelectorAll("button.range"), function (b) {
      b.addEventListener("click", function () { chart.pick(b.getAttribute("data-range")); });
    });
    Array.prototype.forEach.call(document.querySelectorAll("button[data-pan]"), function (b) {
      b.addEventListener("click", function () { chart.pan(Number(b.getAttribute("data-pan"))); });
    });
    var reset = document.querySelector("button[data-reset]");
    if (reset) reset.addEventListener("click", function () { chart.pick(chart.range); });
    var width = box.clientWidth;
    window.addEventListener("resize", function () {
      if (chart.plot && box.clientWidth !== width) {
        width = box.clientWidth;
        chart.plot.setSize({ width: width, height: chart.plot.height });
      }
    });
  });
})();
