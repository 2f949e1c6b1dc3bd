/* Downstream chat widget. Embed with:
 *   <script src="https://<downstream>/chatbot/widget.js" data-site-key="pk_..." async></script>
 * Optional, for a signed-in customer (computed by the shop's server):
 *   data-customer-id="..." data-customer-signature="<expires>.<hex HMAC-SHA256("<customer id>:<expires>", site secret)>"
 *   (expires: Unix time in seconds, at most CHATBOT_IDENTITY_MAX_AGE ahead; the page's origin must be on the site's allow-list)
 * Live delivery over a WebSocket; when that is blocked, HTTP (POST to send, polling to receive).
 * Everything anyone typed is inserted with textContent: it is never interpreted as HTML.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-site-key]");
  if (!script || window.__downstreamChat) return;
  window.__downstreamChat = true;
  var SITE_KEY = script.getAttribute("data-site-key") || "";
  var CUSTOMER_ID = script.getAttribute("data-customer-id") || "";
  var SIGNATURE = script.getAttribute("data-customer-signature") || "";
  var ORIGIN = new URL(script.src, window.location.href).origin;
  var API = ORIGIN + "/api/v1/chatbot/widget/";
  var STORAGE_KEY = "downstream-chat:" + SITE_KEY + ":" + CUSTOMER_ID;
  var MAX_CHARS = 2000;
  var POLL_MS = 2000;

  var state = { token: null, conversation: null, convState: "bot", lastId: 0, seen: {}, ws: null, wsOpen: false, pollTimer: null, opened: false, starting: null };

  var css = [
    ".dsc-launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:#1f6feb;color:#fff;font-size:26px;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000}",
    ".dsc-panel{position:fixed;right:20px;bottom:88px;width:360px;max-width:calc(100vw - 40px);height:520px;max-height:calc(100vh - 110px);background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:none;flex-direction:column;overflow:hidden;font:14px/1.4 system-ui,sans-serif;color:#222;z-index:2147483000}",
    ".dsc-panel.dsc-open{display:flex}",
    ".dsc-head{background:#1f6feb;color:#fff;padding:10px 14px;display:flex;justify-content:space-between;align-items:center}",
    ".dsc-head button{background:transparent;border:1px solid rgba(255,255,255,.6);color:#fff;border-radius:6px;padding:2px 8px;cursor:pointer;font-size:12px}",
    ".dsc-log{flex:1;overflow-y:auto;padding:10px;background:#f6f8fa}",
    ".dsc-msg{margin:6px 0;max-width:85%;padding:8px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".dsc-customer{margin-left:auto;background:#1f6feb;color:#fff}",
    ".dsc-bot,.dsc-operator{background:#fff;border:1px solid #e1e4e8}",
    ".dsc-operator{border-color:#2da44e}",
    ".dsc-system{background:transparent;color:#666;font-size:12px;text-align:center;max-width:100%}",
    ".dsc-who{font-size:11px;color:#666;margin-bottom:2px}",
    ".dsc-source{display:block;font-size:12px;margin-top:6px;color:#1f6feb}",
    ".dsc-cards{display:flex;gap:6px;overflow-x:auto;margin-top:6px}",
    ".dsc-card{min-width:120px;border:1px solid #e1e4e8;border-radius:8px;padding:6px;background:#fafbfc;cursor:pointer;text-align:left;font:inherit}",
    ".dsc-card small{display:block;color:#666}",
    ".dsc-card small.dsc-in{color:#1a7f37}.dsc-card small.dsc-out{color:#b42318}",
    ".dsc-quick{display:flex;flex-wrap:wrap;gap:4px;margin:4px 0}",
    ".dsc-quick button,.dsc-rate button{border:1px solid #1f6feb;background:#fff;color:#1f6feb;border-radius:14px;padding:3px 10px;cursor:pointer;font-size:12px}",
    ".dsc-fb{margin-top:4px}.dsc-fb button{border:0;background:transparent;cursor:pointer;font-size:14px;opacity:.6}.dsc-fb button[aria-pressed=true]{opacity:1}",
    ".dsc-typing{font-size:12px;color:#666;padding:0 12px 4px;display:none}",
    ".dsc-error{color:#b42318;font-size:12px;padding:0 12px;min-height:0}",
    ".dsc-form{display:flex;border-top:1px solid #e1e4e8}",
    ".dsc-form textarea{flex:1;border:0;padding:10px;resize:none;font:inherit;height:44px}",
    ".dsc-form button{border:0;background:#1f6feb;color:#fff;padding:0 14px;cursor:pointer}",
  ].join("\n");

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var style = el("style");
  style.textContent = css;
  document.head.appendChild(style);
  var launcher = el("button", "dsc-launcher", "💬");
  launcher.setAttribute("aria-label", "Open chat");
  launcher.setAttribute("data-dsc", "launcher");
  var panel = el("div", "dsc-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat");
  panel.setAttribute("data-dsc", "panel");
  var head = el("div", "dsc-head");
  head.appendChild(el("strong", "", "Chat with us"));
  var humanButton = el("button", "", "Talk to a human");
  humanButton.setAttribute("data-dsc", "human");
  head.appendChild(humanButton);
  var log = el("div", "dsc-log");
  log.setAttribute("data-dsc", "log");
  log.setAttribute("aria-live", "polite");
  var typing = el("div", "dsc-typing", "Typing…");
  typing.setAttribute("data-dsc", "typing");
  var errorLine = el("div", "dsc-error");
  errorLine.setAttribute("role", "alert");
  errorLine.setAttribute("data-dsc", "error");
  var form = el("form", "dsc-form");
  var input = el("textarea");
  input.setAttribute("placeholder", "Type your message…");
  input.setAttribute("aria-label", "Message");
  input.setAttribute("data-dsc", "input");
  var send = el("button", "", "Send");
  send.type = "submit";
  send.setAttribute("data-dsc", "send");
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(errorLine);
  panel.appendChild(form);
  document.body.appendChild(launcher);
  document.body.appendChild(panel);

  // Clearing an error puts the "Reconnecting…" notice back while something is still down (see setReconnecting).
  function showError(text) { errorLine.textContent = text || (down.socket || down.http ? RECONNECTING : ""); }

  // While the platform is briefly unavailable (a Redis or database outage: a socket closed with 1013, a 503, no
  // answer at all) the widget says so and retries with a growing, jittered delay instead of showing an error.
  var RECONNECTING = "Reconnecting…";
  var retry = { attempt: 0 };
  function backoffMs(retryAfterSeconds) {
    var base = Math.min(30000, 1000 * Math.pow(2, retry.attempt));
    retry.attempt += 1;
    var wait = Math.max(base, (retryAfterSeconds || 0) * 1000);
    return Math.round(wait * (0.75 + Math.random() * 0.5));
  }
  // Two things can be down at once: the live socket (closed with 1013 while the server's channel layer is away) and
  // plain HTTP (503 or no answer). A successful HTTP call clears only its own reason, so the notice stays while the
  // socket is still retrying even though the chat carries on over HTTP.
  var down = { socket: false, http: false };
  function setReconnecting(on, channel) {
    down[channel || "http"] = on;
    if (down.socket || down.http) {
      panel.setAttribute("data-connection", "reconnecting");
      showError(RECONNECTING);
    } else if (panel.getAttribute("data-connection") === "reconnecting") {
      panel.setAttribute("data-connection", "ok");
      retry.attempt = 0;
      if (errorLine.textContent === RECONNECTING) showError("");
    }
  }
  function setTyping(on) { typing.style.display = on ? "block" : "none"; }

  function request(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (state.token) headers["X-Chat-Token"] = state.token;
    return fetch(API + path, { method: method, headers: headers, body: body ? JSON.stringify(body) : undefined }).catch(function () {
      var offline = new Error(RECONNECTING);
      offline.retryable = true;
      throw offline;
    }).then(function (response) {
      if (response.status === 204) return {};
      var retryable = response.status === 503 || response.status === 502 || response.status === 504;
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var detail = data && data.errors && Object.keys(data.errors).length ? Object.values(data.errors)[0][0] : (data && data.detail) || "Something went wrong.";
          var err = new Error(detail);
          err.status = response.status;
          err.retryable = retryable;
          err.retryAfter = parseInt(response.headers.get("Retry-After") || "0", 10) || 0;
          throw err;
        }
        setReconnecting(false);
        return data;
      });
    });
  }

  function render(message) {
    if (!message || state.seen[message.id]) return;
    state.seen[message.id] = true;
    state.lastId = Math.max(state.lastId, message.id);
    if (message.sender !== "customer") setTyping(false);
    var bubble = el("div", "dsc-msg dsc-" + message.sender);
    bubble.setAttribute("data-message-id", message.id);
    bubble.setAttribute("data-sender", message.sender);
    if (message.sender === "operator") bubble.appendChild(el("div", "dsc-who", message.operator || "Support"));
    bubble.appendChild(el("div", "dsc-text", message.text));
    if (message.faq) {
      var source = el("a", "dsc-source", "Source: " + message.faq.question);
      source.href = ORIGIN + "/chatbot/faq/" + encodeURIComponent(message.faq.id) + "/";
      source.target = "_blank";
      source.rel = "noopener";
      source.setAttribute("data-dsc", "faq-source");
      bubble.appendChild(source);
    }
    (message.faq_results || []).forEach(function (article) {
      var link = el("a", "dsc-source", article.question);
      link.href = ORIGIN + "/chatbot/faq/" + encodeURIComponent(article.id) + "/";
      link.target = "_blank";
      link.rel = "noopener";
      bubble.appendChild(link);
    });
    if (message.products && message.products.length) {
      var cards = el("div", "dsc-cards");
      message.products.forEach(function (product) {
        var card = el("button", "dsc-card");
        card.type = "button";
        card.setAttribute("data-dsc", "product");
        card.appendChild(el("strong", "", product.title));
        var price = product.price ? product.price + (product.currency ? " " + product.currency : "") : "";
        card.appendChild(el("small", "", [price, product.category].filter(Boolean).join(" · ")));
        if (product.in_stock === false) card.appendChild(el("small", "dsc-out", "Out of stock"));
        else if (product.in_stock === true) card.appendChild(el("small", "dsc-in", "In stock"));
        if (product.reason) card.appendChild(el("small", "", product.reason));
        card.addEventListener("click", function () {
          request("POST", "clicks/", { sku: product.sku, recommendation_id: message.recommendation_id || "" }).catch(function () {});
        });
        cards.appendChild(card);
      });
      bubble.appendChild(cards);
    }
    if (message.sender === "bot" && message.answer_source) {
      var fb = el("div", "dsc-fb");
      [["up", "👍", "Helpful"], ["down", "👎", "Not helpful"]].forEach(function (choice) {
        var b = el("button", "", choice[1]);
        b.type = "button";
        b.setAttribute("aria-label", choice[2]);
        b.setAttribute("data-dsc", "feedback-" + choice[0]);
        b.setAttribute("aria-pressed", message.feedback === choice[0] ? "true" : "false");
        b.addEventListener("click", function () {
          request("POST", "messages/" + message.id + "/feedback/", { value: choice[0] }).then(function () {
            fb.querySelectorAll("button").forEach(function (x) { x.setAttribute("aria-pressed", "false"); });
            b.setAttribute("aria-pressed", "true");
          }).catch(function (e) { showError(e.message); });
        });
        fb.appendChild(b);
      });
      bubble.appendChild(fb);
    }
    log.appendChild(bubble);
    if (message.quick_replies && message.quick_replies.length) {
      var quick = el("div", "dsc-quick");
      message.quick_replies.forEach(function (text) {
        var q = el("button", "", text);
        q.type = "button";
        q.setAttribute("data-dsc", "quick-reply");
        q.addEventListener("click", function () {
          quick.remove();
          if (/^talk to a human$/i.test(text)) askHuman(); else sendText(text);
        });
        quick.appendChild(q);
      });
      log.appendChild(quick);
    }
    if (message.ask_rating || (message.sender === "system" && /rate us/i.test(message.text))) showRating();
    log.scrollTop = log.scrollHeight;
  }

  function showRating() {
    if (panel.querySelector(".dsc-rate")) return;
    var rate = el("div", "dsc-quick dsc-rate");
    [1, 2, 3, 4, 5].forEach(function (n) {
      var b = el("button", "", "★ " + n);
      b.type = "button";
      b.setAttribute("data-dsc", "rate-" + n);
      b.addEventListener("click", function () {
        request("POST", "rating/", { rating: n }).then(function () { rate.textContent = "Thanks for your rating!"; }).catch(function (e) { showError(e.message); });
      });
      rate.appendChild(b);
    });
    log.appendChild(rate);
  }

  function setConvState(value) {
    state.convState = value;
    panel.setAttribute("data-state", value);
    humanButton.style.display = value === "bot" ? "" : "none";
    // A closed chat's token stops working after a short grace period: nothing more to fetch once it is shown.
    if (value === "closed") { input.disabled = true; send.disabled = true; stopPolling(); }
  }

  function connect() {
    if (!("WebSocket" in window)) { startPolling(); return; }
    var url = ORIGIN.replace(/^http/, "ws") + state.websocketPath + "?token=" + encodeURIComponent(state.token);
    var ws;
    try { ws = new WebSocket(url); } catch (e) { startPolling(); return; }
    state.ws = ws;
    var opened = false;
    ws.onopen = function () { opened = true; state.wsOpen = true; panel.setAttribute("data-transport", "websocket"); setReconnecting(false, "socket"); stopPolling(); catchUp(); };
    ws.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      if (data.type === "message") render(data.message);
      else if (data.type === "typing") setTyping(true);
      else if (data.type === "state") setConvState(data.state);
      else if (data.type === "error") { setTyping(false); showError(data.detail); }
    };
    ws.onclose = function (event) {
      state.wsOpen = false;
      state.ws = null;
      // Blocked or dropped: keep working over HTTP, and try the socket again later. 1013 ("try again later"): the
      // server's live channel is down for now; retry with backoff and say so.
      startPolling();
      var unavailable = event && (event.code === 1013 || event.code === 1011 || event.code === 1012);
      if (unavailable) setReconnecting(true, "socket");
      var delay = unavailable ? backoffMs(0) : (opened ? 3000 : 15000);
      setTimeout(function () { if (!state.wsOpen && state.convState !== "closed") connect(); }, delay);
    };
  }

  function catchUp() {
    return request("GET", "messages/?after=" + state.lastId).then(function (data) {
      data.messages.forEach(render);
      setConvState(data.state);
    }).catch(function (e) { if (e.retryable) setReconnecting(true); });
  }

  function startPolling() {
    panel.setAttribute("data-transport", "http");
    if (state.pollTimer) return;
    state.pollTimer = setInterval(catchUp, POLL_MS);
  }

  function stopPolling() {
    if (state.pollTimer) clearInterval(state.pollTimer);
    state.pollTimer = null;
  }

  function start() {
    if (state.starting) return state.starting;
    var saved = null;
    try { saved = window.localStorage.getItem(STORAGE_KEY); } catch (e) { saved = null; }
    state.starting = request("POST", "sessions/", { site_key: SITE_KEY, customer_id: CUSTOMER_ID, customer_signature: SIGNATURE, token: saved || "" }).then(function (data) {
      state.token = data.token;
      state.websocketPath = data.websocket_path;
      try { window.localStorage.setItem(STORAGE_KEY, data.token); } catch (e) { /* private mode: the chat still works */ }
      data.messages.forEach(render);
      setConvState(data.state);
      panel.setAttribute("data-ready", "true");
      connect();
    }).catch(function (e) {
      state.starting = null;
      if (e.retryable) { setReconnecting(true); setTimeout(start, backoffMs(e.retryAfter)); return; }
      showError(e.message);
    });
    return state.starting;
  }

  function sendText(text) {
    showError("");
    text = (text || "").trim();
    if (!text) { showError("Type a message first."); return; }
    if (text.length > MAX_CHARS) { showError("Your message is " + text.length + " characters long; the limit is " + MAX_CHARS + "."); return; }
    if (state.wsOpen && state.ws) {
      state.ws.send(JSON.stringify({ type: "message", text: text }));
      return;
    }
    setTyping(true);
    postText(text, 0);
  }

  function postText(text, tries) {
    request("POST", "messages/", { text: text }).then(function (data) {
      data.messages.forEach(render);
      setConvState(data.state);
      setTyping(false);
    }).catch(function (e) {
      // A 503 stored nothing, so sending the same text again cannot duplicate it.
      if (e.retryable && e.status === 503 && tries < 6) { setReconnecting(true); setTimeout(function () { postText(text, tries + 1); }, backoffMs(e.retryAfter)); return; }
      setTyping(false);
      showError(e.retryable ? "We could not reach the chat; please send your message again in a moment." : e.message);
    });
  }

  function askHuman() {
    showError("");
    request("POST", "handoff/").then(function (data) { setConvState(data.state); catchUp(); }).catch(function (e) { showError(e.message); });
  }

  launcher.addEventListener("click", function () {
    state.opened = !state.opened;
    panel.classList.toggle("dsc-open", state.opened);
    launcher.setAttribute("aria-label", state.opened ? "Close chat" : "Open chat");
    if (state.opened) { start(); input.focus(); }
  });
  humanButton.addEventListener("click", askHuman);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (text.trim() && text.trim().length <= MAX_CHARS) input.value = "";
    sendText(text);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });
})();
