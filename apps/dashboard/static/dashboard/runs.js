// Live progress for training runs: polls the dashboard's JSON endpoint and updates bars, badges and text in place.
(function () {
  "use strict";
  const FINISHED = new Set(["succeeded", "failed", "cancelled"]);
  const POLL_MS = 1000;

  function visibleIds() {
    return Array.from(document.querySelectorAll("[data-run-progress]")).map((el) => el.dataset.runProgress);
  }

  function setText(selector, text) {
    document.querySelectorAll(selector).forEach((el) => { el.textContent = text; });
  }

  function update(run) {
    const pct = Math.round(run.progress);
    document.querySelectorAll(`[data-run-progress="${run.id}"]`).forEach((el) => {
      el.setAttribute("aria-valuenow", String(pct));
      const bar = el.querySelector(".bar");
      bar.style.width = pct + "%";
      bar.className = "bar status-" + run.status;
      el.querySelector(".label").textContent = pct + "%";
    });
    document.querySelectorAll(`[data-run-status="${run.id}"]`).forEach((el) => {
      el.textContent = run.status;
      el.className = "badge status-" + run.status;
    });
    setText(`[data-run-stage="${run.id}"]`, run.stage);
    if (run.device) setText(`[data-run-device="${run.id}"]`, run.device);
    if (run.duration_seconds !== null) setText(`[data-run-duration="${run.id}"]`, run.duration_seconds.toFixed(1) + " s");
    document.querySelectorAll(`[data-run-error="${run.id}"]`).forEach((el) => {
      el.textContent = run.error;
      el.hidden = !run.error;
    });
    if (window.downstreamHistoryChart && document.querySelector(`[data-run-detail="${run.id}"]`)) {
      window.downstreamHistoryChart(run.metric_history);
    }
  }

  async function poll() {
    const ids = visibleIds();
    const listPage = document.querySelector("[data-live-runs]");
    try {
      const family = listPage ? listPage.dataset.family : "";
      const response = await fetch(`/runs/live/?ids=${ids.join(",")}&family=${encodeURIComponent(family)}`, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      data.runs.forEach(update);
      const shownMax = Math.max(0, ...ids.map(Number));
      // newest_id counts every family, so a list filtered by family would reload on each poll; it is not used there.
      if (listPage && data.newest_id && data.newest_id > shownMax) { window.location.reload(); return; }
      const pending = data.runs.some((r) => !FINISHED.has(r.status));
      // Finished runs that just ended may have gained an error row or a model version: refresh once.
      const justFinished = data.runs.some((r) => FINISHED.has(r.status) && document.querySelector(`[data-run-status="${r.id}"]`)?.dataset.initial && document.querySelector(`[data-run-status="${r.id}"]`).dataset.initial !== r.status);
      if (listPage && justFinished) { window.location.reload(); return; }
      if (pending || listPage) setTimeout(poll, POLL_MS);
    } catch (err) {
      setTimeout(poll, POLL_MS * 5);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-run-status]").forEach((el) => { el.dataset.initial = el.textContent.trim(); });
    if (visibleIds().length || document.querySelector("[data-live-runs]")) poll();
  });
})();
