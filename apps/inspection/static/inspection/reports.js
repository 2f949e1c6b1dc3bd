(function () {
  const report = JSON.parse(document.getElementById("report-data").textContent);
  const colours = ["#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];
  new Chart(document.getElementById("rate-chart"), {
    type: "bar",
    data: {labels: report.shifts, datasets: Object.entries(report.defect_rate).map(([line, values], i) => ({label: line, data: values, backgroundColor: colours[i % colours.length]}))},
    options: {scales: {y: {beginAtZero: true, title: {display: true, text: "% defective"}}}},
  });
  new Chart(document.getElementById("pareto-chart"), {
    data: {
      labels: report.pareto.labels,
      datasets: [
        {type: "bar", label: "defects", data: report.pareto.counts, backgroundColor: "#cf222e", yAxisID: "y"},
        {type: "line", label: "cumulative %", data: report.pareto.cumulative_percent, borderColor: "#24292f", yAxisID: "y1"},
      ],
    },
    options: {scales: {y: {beginAtZero: true}, y1: {position: "right", min: 0, max: 100, grid: {drawOnChartArea: false}}}},
  });
})();
