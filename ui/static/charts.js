/* Draws report charts with Chart.js from the JSON in a canvas's data-chart-spec (no inline script).
   Spec: {type: bar|line|pie|funnel, labels: [...], datasets: [{label, data: [...], drill: [url|null, ...]}]}.
   A click on a bar, point or slice opens its drill URL (the records behind that row).
   Runs on page load and on every htmx swap (a refreshed report, a record page's chart slot). */
(function () {
  "use strict";
  var PALETTE = ["#2f6fae", "#e07b39", "#3a9a5b", "#b8443c", "#7d5ba6", "#9a7b3a", "#3a8d9a", "#c25b9a"];

  function config(spec) {
    var type = spec.type, horizontal = false;
    if (type === "funnel") { type = "bar"; horizontal = true; }
    if (["bar", "line", "pie"].indexOf(type) < 0) { type = "bar"; }
    var many = spec.datasets.length > 1;
    var datasets = spec.datasets.map(function (ds, i) {
      var colour = PALETTE[i % PALETTE.length];
      return {
        label: ds.label, data: ds.data,
        backgroundColor: type === "pie" ? spec.labels.map(function (_, j) { return PALETTE[j % PALETTE.length]; }) : colour,
        borderColor: type === "line" ? colour : undefined,
        fill: false
      };
    });
    return {
      type: type,
      data: {labels: spec.labels, datasets: datasets},
      options: {
        indexAxis: horizontal ? "y" : "x",
        locale: document.documentElement.lang || undefined,   // tick numbers as the page formats them
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: {legend: {display: many || type === "pie"}},
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) { return; }
          var el = elements[0], ds = spec.datasets[el.datasetIndex];
          var url = ds && ds.drill ? ds.drill[el.index] : null;
          if (url) { window.location.assign(url); }
        }
      }
    };
  }

  function draw(root) {
    if (typeof window.Chart === "undefined") { return; }
    var canvases = (root || document).querySelectorAll("canvas[data-chart-spec]");
    Array.prototype.forEach.call(canvases, function (canvas) {
      if (window.Chart.getChart(canvas)) { return; }
      try {
        new window.Chart(canvas, config(JSON.parse(canvas.getAttribute("data-chart-spec"))));
        canvas.setAttribute("data-chart-drawn", "true");
      } catch (err) {
        canvas.setAttribute("data-chart-error", String(err));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
