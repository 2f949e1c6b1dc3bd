// Charts for the Models page (primary metric by version) and a run's learning curves. Chart.js is served locally.
(function () {
  "use strict";
  const STATUS_COLOURS = { production: "#1a7f37", candidate: "#9a6700", archived: "#8c959f" };
  const PALETTE = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#57606a"];

  function modelCharts() {
    const dataEl = document.getElementById("chart-data");
    if (!dataEl) return;
    const charts = JSON.parse(dataEl.textContent);
    document.querySelectorAll("canvas[data-chart-family]").forEach((canvas) => {
      const points = charts[canvas.dataset.chartFamily] || [];
      if (!points.length) {
        const note = document.createElement("p");
        note.className = "muted";
        note.textContent = "No versions yet: the chart of " + canvas.dataset.metric + " by version appears after the first training run.";
        canvas.replaceWith(note);
        return;
      }
      const values = points.map((p) => p.value).filter((v) => v !== null);
      const unitInterval = values.every((v) => v >= 0 && v <= 1);
      new Chart(canvas, {
        type: "line",
        data: {
          labels: points.map((p) => "v" + p.version),
          datasets: [{
            label: canvas.dataset.metric,
            data: points.map((p) => p.value),
            borderColor: "#0969da",
            backgroundColor: "#0969da",
            pointBackgroundColor: points.map((p) => STATUS_COLOURS[p.status] || "#0969da"),
            pointRadius: 5,
          }],
        },
        options: { animation: false, plugins: { legend: { display: true } }, scales: {
          x: { offset: true },
          // Metrics in [0, 1] (accuracy, nDCG, AUROC) never get an axis past 1.
          y: { title: { display: true, text: canvas.dataset.metric }, ...(unitInterval ? { suggestedMin: Math.max(0, Math.min(...values) - 0.05), max: 1 } : {}) },
        } },
      });
    });
  }

  let historyChart = null;
  function historyChartUpdate(history) {
    const canvas = document.getElementById("history-chart");
    if (!canvas || !history) return;
    const keys = Array.from(new Set(history.flatMap((h) => Object.keys(h)))).filter((k) => k !== "epoch" && k !== "step");
    const labels = history.map((h, i) => h.epoch ?? h.step ?? i + 1);
    const datasets = keys.map((k, i) => ({
      label: k, data: history.map((h) => h[k] ?? null), borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length], pointRadius: 0,
      yAxisID: /loss/.test(k) ? "loss" : "score",
    }));
    if (historyChart) {
      historyChart.data.labels = labels;
      historyChart.data.datasets = datasets;
      historyChart.update("none");
      return;
    }
    historyChart = new Chart(canvas, {
      type: "line",
      data: { labels, datasets },
      options: {
        animation: false,
        scales: {
          x: { title: { display: true, text: "epoch" } },
          loss: { position: "left", title: { display: true, text: "loss" } },
          score: { position: "right", title: { display: true, text: "score" }, grid: { drawOnChartArea: false } },
        },
      },
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (typeof Chart === "undefined") return;
    modelCharts();
    const dataEl = document.getElementById("history-data");
    if (dataEl) historyChartUpdate(JSON.parse(dataEl.textContent));
    window.downstreamHistoryChart = historyChartUpdate;
  });
})();
