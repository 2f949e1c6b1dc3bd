// The inbox reloads when a conversation enters or leaves the queue (WebSocket, or polling when blocked).
(function () {
  "use strict";
  var queue = document.getElementById("queue");
  if (!queue) return;
  var shown = Array.prototype.map.call(document.querySelectorAll("[data-waiting-conversation]"), function (n) { return +n.getAttribute("data-waiting-conversation"); }).sort().join(",");
  var leaving = false;  // a claim form is being submitted: never reload over that navigation
  document.addEventListener("submit", function () { leaving = true; });
  function check() {
    if (leaving) return;
    fetch(queue.getAttribute("data-inbox-poll"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      if (!leaving && data.waiting.slice().sort().join(",") !== shown) window.location.reload();
    }).catch(function () {});
  }
  var timer = null;
  try {
    var ws = new WebSocket(window.location.origin.replace(/^http/, "ws") + queue.getAttribute("data-inbox-ws"));
    ws.onmessage = check;
    ws.onclose = function () { if (!timer) timer = setInterval(check, 3000); };
  } catch (e) { timer = setInterval(check, 3000); }
})();
