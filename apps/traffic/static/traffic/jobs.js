// Live progress of traffic jobs: polls the jobs API while any job on the page is queued or running.
(function () {
  "use strict";
  const rows = () => Array.from(document.querySelectorAll("[data-job-row]"));
  const active = () => rows().some((row) => {
    const badge = row.querySelector("[data-job-status]");
    return badge && (badge.textContent === "queued" || badge.textContent === "running");
  });

  async function poll() {
    if (!active()) return;
    try {
      const response = await fetch("/api/v1/traffic/jobs/?page_size=100", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) {
        const body = await response.json();
        for (const job of body.results) {
          const status = document.querySelector(`[data-job-status="${job.id}"]`);
          if (!status) continue;
          const finishedNow = status.textContent !== job.status && ["succeeded", "failed", "cancelled"].includes(job.status);
          status.textContent = job.status;
          status.className = `badge status-${job.status}`;
          const bar = document.querySelector(`[data-job-progress="${job.id}"]`);
          if (bar) {
            const pct = Math.round(job.progress);
            bar.setAttribute("aria-valuenow", pct);
            bar.querySelector(".bar").style.width = `${pct}%`;
            bar.querySelector(".bar").className = `bar status-${job.status}`;
            bar.querySelector(".label").textContent = `${pct}%`;
          }
          const stage = document.querySelector(`[data-job-stage="${job.id}"]`);
          if (stage) stage.textContent = job.error ? `${job.stage}: ${job.error}` : job.stage;
          const detector = document.querySelector(`[data-job-detector="${job.id}"]`);
          if (detector) detector.textContent = job.detector;
          if (finishedNow && document.getElementById("counts-chart")) setTimeout(() => window.location.reload(), 500);
        }
      }
    } catch (err) {
      // A failed poll is retried on the next tick.
    }
    setTimeout(poll, 2000);
  }
  setTimeout(poll, 1000);
})();
