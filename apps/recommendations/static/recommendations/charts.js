// Offline metrics of every recommendation family by version (Chart.js, served locally).
(function () {
  "use strict";
  const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#57606a"];

  function lineChart(canvasId, datasets, yTitle) {
    const canvas = document.getElementById(canvasId);
    if (!canvas) return;
    if (!datasets.some((d) => d.data.length)) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = "No versions yet: the chart appears after the first training run.";
      canvas.replaceWith(note);
      return;
    }
    new Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        parsing: false,
        plugins: { legend: { display: true } },
        scales: {
          x: { type: "linear", title: { display: true, text: "version" }, ticks: { stepSize: 1, precision: 0 } },
          y: { title: { display: true, text: yTitle }, suggestedMin: 0, max: 1 },
        },
      },
    });
  }

  function points(versions, metric) {
    return versions.filter((v) => v.metrics && v.metrics[metric] !== undefined).map((v) => ({ x: v.version, y: v.metrics[metric] }));
  }

  document.addEventListener("DOMContentLoaded", function () {
    const el = document.getElementById("recs-history");
    if (!el || typeof Chart === "undefined") return;
    const history = JSON.parse(el.textContent);
    const families = Object.keys(history);
    const quality = families.map((family, i) => ({
      label: family.replace("recommendations.", "") + " nDCG@10",
      data: points(history[family], "ndcg@10"),
      borderColor: PALETTE[i % PALETTE.length],
      backgroundColor: PALETTE[i % PALETTE.length],
    }));
    const main = history["recommendations.blend"] || [];
    const coverage = [
      { label: "blend coverage@10", data: points(main, "coverage@10"), borderColor: PALETTE[2], backgroundColor: PALETTE[2] },
      { label: "blend popularity bias@10", data: points(main, "popularity_bias@10"), borderColor: PALETTE[4], backgroundColor: PALETTE[4] },
      { label: "blend precision@10", data: points(main, "precision@10"), borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
    ];
    lineChart("chart-quality", quality, "nDCG@10 (held-out)");
    lineChart("chart-coverage", coverage, "share");
  });
})();
