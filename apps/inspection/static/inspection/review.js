// Review queue keyboard shortcuts: c confirm, o OK, 1–9 defect type, d typed defect type, j/k move.
(function () {
  const list = document.getElementById("review-list");
  if (!list) return;
  const types = list.dataset.types ? list.dataset.types.split(",") : [];
  const csrf = list.querySelector("input[name=csrfmiddlewaretoken]").value;
  const items = () => Array.from(list.querySelectorAll(".review-item"));
  function current() { return list.querySelector(".review-item.current"); }
  function select(item) {
    items().forEach(i => i.classList.remove("current"));
    if (item) { item.classList.add("current"); item.scrollIntoView({block: "nearest"}); }
  }
  function move(step) {
    const all = items().filter(i => !i.classList.contains("done"));
    const idx = all.indexOf(current());
    select(all[Math.min(all.length - 1, Math.max(0, idx + step))]);
  }
  async function submit(item, decision, defectType) {
    const body = new URLSearchParams({decision: decision, defect_type: defectType || ""});
    const status = item.querySelector(".status");
    const response = await fetch(item.dataset.url, {
      method: "POST", body: body,
      headers: {"X-CSRFToken": csrf, "Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
    });
    const data = await response.json();
    if (!response.ok) { status.textContent = data.detail; return; }
    status.textContent = "Reviewed: " + data.label + (data.disputed ? " (disputed)" : "");
    item.classList.add("done");
    item.dataset.reviewed = data.label;
    move(1);
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, select, textarea") || event.ctrlKey || event.metaKey || event.altKey) return;
    const item = current();
    if (!item) return;
    const key = event.key.toLowerCase();
    if (key === "c") submit(item, "confirm");
    else if (key === "o") submit(item, "ok");
    else if (key === "j") move(1);
    else if (key === "k") move(-1);
    else if (key === "d") { const t = prompt("Defect type"); if (t) submit(item, "defect", t); }
    else if (/^[1-9]$/.test(key) && types[Number(key) - 1]) submit(item, "defect", types[Number(key) - 1]);
    else return;
    event.preventDefault();
  });
  list.addEventListener("click", (event) => { const item = event.target.closest(".review-item"); if (item && !event.target.closest("form")) select(item); });
})();
