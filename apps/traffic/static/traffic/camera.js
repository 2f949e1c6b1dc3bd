// Camera page: the line / zone / calibration editor drawn on the latest frame, the counts chart and the heatmap.
(function () {
  "use strict";
  const data = (id) => JSON.parse(document.getElementById(id).textContent);
  const geometry = data("geometry");
  const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";

  async function api(method, path, body) {
    const response = await fetch(`/api/v1/traffic/${path}`, {
      method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": decodeURIComponent(csrf) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const json = text ? JSON.parse(text) : {};
    if (!response.ok) {
      const errors = Object.entries(json.errors || {}).map(([k, v]) => `${k}: ${v.join(" ")}`).join("; ");
      throw new Error(errors || json.detail || `HTTP ${response.status}`);
    }
    return json;
  }

  // --- editor ---------------------------------------------------------------------------------------------
  const canvas = document.getElementById("overlay");
  const img = document.getElementById("frame");
  const status = document.getElementById("editor-status");
  let points = [];
  // The editor's buttons act in place; the form itself never submits (no inline handler: the CSP forbids them).
  document.getElementById("editor").addEventListener("submit", (event) => event.preventDefault());

  function mode() { return document.getElementById("mode").value; }
  function natural() { return { w: geometry.width || img.naturalWidth || 1, h: geometry.height || img.naturalHeight || 1 }; }

  function draw() {
    if (!canvas) return;
    const { w, h } = natural();
    canvas.width = w; canvas.height = h;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, w, h);
    ctx.lineWidth = Math.max(2, w / 400);
    ctx.font = `${Math.max(12, w / 50)}px sans-serif`;
    for (const z of geometry.zones) {
      ctx.strokeStyle = z.kind === "congestion" ? "#ffa000" : "#2196f3";
      ctx.beginPath();
      z.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.stroke();
      ctx.fillStyle = ctx.strokeStyle; ctx.fillText(z.name, z.polygon[0][0] + 4, z.polygon[0][1] + 16);
    }
    for (const l of geometry.lines) {
      ctx.strokeStyle = "#ffeb3b";
      ctx.beginPath(); ctx.moveTo(l.x1, l.y1); ctx.lineTo(l.x2, l.y2); ctx.stroke();
      ctx.fillStyle = "#ffeb3b"; ctx.fillText(l.name, Math.min(l.x1, l.x2) + 4, Math.min(l.y1, l.y2) - 6);
    }
    (geometry.calibration.image_points || []).forEach(([x, y], i) => {
      ctx.fillStyle = "#e91e63"; ctx.beginPath(); ctx.arc(x, y, ctx.lineWidth * 2, 0, 7); ctx.fill(); ctx.fillText(`C${i + 1}`, x + 6, y - 6);
    });
    ctx.strokeStyle = "#00e676"; ctx.fillStyle = "#00e676";
    points.forEach(([x, y], i) => {
      ctx.beginPath(); ctx.arc(x, y, ctx.lineWidth * 2, 0, 7); ctx.fill();
      if (i) { ctx.beginPath(); ctx.moveTo(points[i - 1][0], points[i - 1][1]); ctx.lineTo(x, y); ctx.stroke(); }
    });
    document.getElementById("points").textContent = `points: ${points.length}`;
    document.querySelectorAll("#editor [data-for]").forEach((el) => { el.style.display = el.dataset.for === mode() ? "" : "none"; });
  }

  if (canvas) {
    const ready = () => draw();
    if (img.complete) ready(); else img.addEventListener("load", ready);
    canvas.addEventListener("click", (event) => {
      const rect = canvas.getBoundingClientRect();
      const { w, h } = natural();
      const x = Math.round(((event.clientX - rect.left) / rect.width) * w);
      const y = Math.round(((event.clientY - rect.top) / rect.height) * h);
      const max = { line: 2, calibration: 4, zone: 50 }[mode()];
      if (points.length >= max) points = [];
      points.push([x, y]);
      draw();
    });
    document.getElementById("mode").addEventListener("change", () => { points = []; draw(); });
    document.getElementById("clear").addEventListener("click", () => { points = []; status.textContent = ""; draw(); });
    document.getElementById("save").addEventListener("click", async () => {
      const name = document.getElementById("shape-name").value.trim();
      const camera = Number(canvas.dataset.camera);
      try {
        if (mode() === "line") {
          if (points.length !== 2) throw new Error("click two points for a line");
          await api("POST", "lines/", {
            camera, name, x1: points[0][0], y1: points[0][1], x2: points[1][0], y2: points[1][1],
            in_side: Number(document.getElementById("in-side").value), wrong_way: document.getElementById("wrong-way").value,
          });
        } else if (mode() === "zone") {
          if (points.length < 3) throw new Error("click at least three points for a zone");
          await api("POST", "zones/", { camera, name, kind: document.getElementById("zone-kind").value, polygon: points });
        } else {
          if (points.length !== 4) throw new Error("click the four calibration points");
          const ground = document.getElementById("ground").value.split(";").map((p) => p.split(",").map(Number));
          await api("PUT", `cameras/${camera}/calibration/`, { image_points: points, ground_points: ground });
        }
        status.textContent = "Saved.";
        window.location.reload();
      } catch (err) {
        status.textContent = `Not saved: ${err.message}`;
      }
    });
  }
  document.querySelectorAll("[data-delete]").forEach((button) => button.addEventListener("click", async () => {
    try { await api("DELETE", `${button.dataset.delete}/`); window.location.reload(); } catch (err) { alert(err.message); }
  }));

  // --- counts chart ---------------------------------------------------------------------------------------
  const colours = ["#4caf50", "#2196f3", "#ff9800", "#e91e63", "#9c27b0", "#00bcd4", "#795548", "#607d8b", "#cddc39", "#f44336", "#3f51b5", "#009688"];
  let chart = null;
  function renderChart() {
    const el = document.getElementById("counts-chart");
    if (!el || !window.Chart) return;
    const series = data(document.getElementById("bin").value === "15" ? "series-15" : "series-1");
    const datasets = Object.entries(series.series).map(([name, values], i) => ({
      label: name, data: values, backgroundColor: colours[i % colours.length], stack: name.endsWith(" in") ? "in" : "out",
    }));
    const labels = series.bins.map((b) => new Date(b).toLocaleString());
    if (chart) chart.destroy();
    chart = new window.Chart(el, { type: "bar", data: { labels, datasets }, options: { animation: false, scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });
  }
  window.addEventListener("load", renderChart);
  const bin = document.getElementById("bin");
  if (bin) bin.addEventListener("change", renderChart);

  // --- heatmap --------------------------------------------------------------------------------------------
  function renderHeatmap() {
    const el = document.getElementById("heatmap");
    if (!el) return;
    const heat = data("heatmap-data");
    const ctx = el.getContext("2d");
    el.height = Math.round((el.width * heat.rows) / heat.cols);
    const cw = el.width / heat.cols, ch = el.height / heat.rows;
    const background = img && img.complete && img.naturalWidth ? img : null;
    if (background) { ctx.globalAlpha = 0.5; ctx.drawImage(background, 0, 0, el.width, el.height); ctx.globalAlpha = 1; }
    else { ctx.fillStyle = "#222"; ctx.fillRect(0, 0, el.width, el.height); }
    heat.cells.forEach((row, r) => row.forEach((v, c) => {
      if (!v) return;
      const t = Math.sqrt(v / (heat.max || 1));
      ctx.fillStyle = `rgba(255, ${Math.round(220 * (1 - t))}, 0, ${0.25 + 0.6 * t})`;
      ctx.fillRect(c * cw, r * ch, cw + 0.5, ch + 0.5);
    }));
  }
  window.addEventListener("load", renderHeatmap);
})();
