// A traffic job's page and its review page: marks and times seek the annotated video, a playhead follows it on the
// timeline, the chart of cumulative counts, and "use the video's time" for adding a missed crossing.
(function () {
  "use strict";
  const video = document.getElementById("job-video");
  const timeline = document.getElementById("timeline");

  function seek(seconds) {
    if (!video || !Number.isFinite(seconds)) return;
    video.pause();
    video.currentTime = seconds;
    video.scrollIntoView({ block: "nearest" });
  }
  document.querySelectorAll("[data-seek]").forEach((el) => {
    el.addEventListener("click", () => seek(Number(el.dataset.seek)));
    el.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); seek(Number(el.dataset.seek)); }
    });
  });

  // The playhead: the video's time as a position on the job's timeline (a stream's video starts at its segment).
  if (video && timeline) {
    const duration = Number(timeline.dataset.duration) || 1;
    const offset = Number(timeline.dataset.windowStart) / (Number(timeline.dataset.fps) || 25);
    const playheads = timeline.querySelectorAll(".playhead");
    video.addEventListener("timeupdate", () => {
      const x = (100 * (offset + video.currentTime)) / duration;
      playheads.forEach((line) => { line.setAttribute("x1", x); line.setAttribute("x2", x); });
    });
  }

  const useTime = document.getElementById("use-video-time");
  if (useTime && video) {
    useTime.addEventListener("click", () => {
      const offset = Number(useTime.dataset.windowStartSeconds) / (Number(useTime.dataset.fps) || 25);
      document.getElementById("add-seconds").value = (offset + video.currentTime).toFixed(2);
    });
  }

  const colours = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bc4c00", "#57606a", "#00bcd4", "#9c27b0"];
  function renderChart() {
    const canvas = document.getElementById("job-counts-chart");
    const dataEl = document.getElementById("job-series");
    if (!canvas || !dataEl || !window.Chart) return;
    const data = JSON.parse(dataEl.textContent);
    const datasets = Object.entries(data.series).map(([name, values], i) => ({
      label: name,
      data: values.map((y, j) => ({ x: data.seconds[j], y })),
      borderColor: colours[i % colours.length],
      backgroundColor: colours[i % colours.length],
      borderDash: name.endsWith(" out") ? [6, 3] : [],
      stepped: true,
      pointRadius: 0,
    }));
    new window.Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        animation: false,
        scales: {
          x: { type: "linear", min: 0, title: { display: true, text: "seconds of video" } },
          y: { beginAtZero: true, title: { display: true, text: "crossings so far" }, ticks: { precision: 0 } },
        },
      },
    });
  }
  window.addEventListener("load", renderChart);
})();
