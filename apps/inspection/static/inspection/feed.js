// Live feed: polls the newest results every 5 s and redraws the grid.
(function () {
  const feed = document.getElementById("feed");
  if (!feed) return;
  function esc(s) { return String(s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c])); }
  async function refresh() {
    try {
      const response = await fetch(feed.dataset.url, {headers: {Accept: "application/json"}});
      if (!response.ok) return;
      const data = await response.json();
      if (!data.results.length) return;
      feed.innerHTML = data.results.map(r => `
        <figure class="shot verdict-${esc(r.verdict)}" data-result="${r.id}">
          <img src="${esc(r.heatmap_url)}" alt="heatmap of ${esc(r.client_image_id)}" loading="lazy">
          <figcaption><strong class="verdict">${esc(r.verdict)}</strong> ${esc(r.defect_type)} · score ${r.score} / ${r.threshold}<br>
          <span class="muted">${esc(r.station)} · ${esc(r.client_image_id)}</span></figcaption>
        </figure>`).join("");
      document.getElementById("feed-updated").textContent = "updated " + new Date().toLocaleTimeString();
    } catch (e) { /* offline for a moment: try again at the next tick */ }
  }
  setInterval(refresh, 5000);
})();
