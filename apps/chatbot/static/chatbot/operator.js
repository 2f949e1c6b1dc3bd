// Operator's conversation page: live messages over the WebSocket (polling when blocked); replies go out over
// the socket when it is open, else by POST. Text is inserted with textContent, never as HTML.
(function () {
  "use strict";
  var log = document.getElementById("chat-log");
  if (!log) return;
  var form = document.getElementById("reply-form");
  var text = document.getElementById("reply-text");
  var errorLine = document.getElementById("reply-error");
  var canned = document.getElementById("canned");
  var stateBadge = document.querySelector("[data-state]");
  var ws = null, pollTimer = null;

  function lastId() {
    var ids = Array.prototype.map.call(log.querySelectorAll("[data-message-id]"), function (n) { return +n.getAttribute("data-message-id"); });
    return ids.length ? Math.max.apply(null, ids) : 0;
  }

  function render(m) {
    if (log.querySelector('[data-message-id="' + m.id + '"]')) return;
    var div = document.createElement("div");
    div.className = "chat-msg from-" + m.sender;
    div.setAttribute("data-message-id", m.id);
    var who = document.createElement("div");
    who.className = "who";
    who.textContent = m.sender + (m.operator ? " · " + m.operator : "") + (m.answer_source ? " · " + m.answer_source : "");
    var body = document.createElement("div");
    body.className = "text";
    body.textContent = m.text;
    div.appendChild(who);
    div.appendChild(body);
    log.appendChild(div);
    log.scrollTop = log.scrollHeight;
  }

  function poll() {
    fetch(log.getAttribute("data-poll") + "?after=" + lastId(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) { (data.messages || []).forEach(render); if (stateBadge) stateBadge.textContent = data.state; })
      .catch(function () {});
  }

  function startPolling() { if (!pollTimer) pollTimer = setInterval(poll, 2000); }

  function connect() {
    var url = window.location.origin.replace(/^http/, "ws") + log.getAttribute("data-ws");
    try { ws = new WebSocket(url); } catch (e) { startPolling(); return; }
    ws.onopen = function () { log.setAttribute("data-transport", "websocket"); if (pollTimer) { clearInterval(pollTimer); pollTimer = null; } poll(); };
    ws.onmessage = function (event) {
      var data = JSON.parse(event.data);
      if (data.type === "message") render(data.message);
      else if (data.type === "state" && stateBadge) stateBadge.textContent = data.state;
      else if (data.type === "error" && errorLine) errorLine.textContent = data.detail;
    };
    ws.onclose = function () { ws = null; log.setAttribute("data-transport", "http"); startPolling(); setTimeout(connect, 5000); };
  }

  if (canned && text) canned.addEventListener("change", function () { if (canned.value) { text.value = canned.value; canned.value = ""; text.focus(); } });
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      errorLine.textContent = "";
      var value = text.value.trim();
      if (!value) { errorLine.textContent = "Type a reply first."; return; }
      if (value.length > 2000) { errorLine.textContent = "At most 2,000 characters."; return; }
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: "reply", text: value }));
        text.value = "";
        return;
      }
      var body = new FormData(form);
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
        .then(function (res) { if (!res[0]) { errorLine.textContent = res[1].detail; return; } text.value = ""; if (res[1].message) render(res[1].message); })
        .catch(function () { errorLine.textContent = "Could not send; check the connection."; });
    });
  }
  connect();
})();
