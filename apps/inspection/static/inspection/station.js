// Threshold slider: the curve is computed server-side once; moving the slider only reads it.
(function () {
  const slider = document.getElementById("threshold-slider");
  if (!slider) return;
  const pct = v => (100 * v).toFixed(1) + "%";
  let curve = [];
  function show(i) {
    const p = curve[i];
    if (!p) return;
    document.getElementById("stat-threshold").textContent = p.threshold.toFixed(4);
    document.getElementById("stat-precision").textContent = pct(p.precision);
    document.getElementById("stat-recall").textContent = pct(p.recall);
    document.getElementById("stat-frr").textContent = pct(p.false_reject_rate);
  }
  fetch(slider.dataset.url, {headers: {Accept: "application/json"}}).then(r => r.json()).then(data => {
    curve = data.curve || [];
    document.getElementById("curve-source").textContent = curve.length ? "Measured on the " + data.source + "." : "No validation data yet (" + data.source + ").";
    if (!curve.length) { slider.disabled = true; return; }
    slider.max = curve.length - 1;
    const current = parseFloat(slider.dataset.current);
    let idx = Math.floor(curve.length / 2);
    if (!isNaN(current)) idx = curve.reduce((best, p, i) => Math.abs(p.threshold - current) < Math.abs(curve[best].threshold - current) ? i : best, 0);
    slider.value = idx;
    show(idx);
  });
  slider.addEventListener("input", () => {
    show(Number(slider.value));
    document.getElementById("threshold-input").value = curve[Number(slider.value)].threshold.toFixed(5);
  });
})();
