// Agent console: live queue over a websocket, the conversation with its context, actions.
// Every piece of text goes into the page through textContent, never as markup.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  let current = null;
  let socket = null;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) throw new Error((data && (data.detail || data.error)) || response.statusText);
    return data;
  }

  function renderEntries(list, entries) {
    list.replaceChildren(...entries.map((entry) => {
      const item = el("li", null, entry.priority > 0 ? "vip" : "");
      const button = el("button", `${entry.queue} · ${entry.reason} · ${Math.round(entry.waiting_s)} s`);
      button.type = "button";
      button.dataset.label = `${entry.queue} · ${entry.reason}`;
      button.dataset.waiting = entry.waiting_s;
      button.dataset.base = Date.now();
      button.dataset.conversation = entry.conversation_id;
      button.addEventListener("click", () => open(entry.conversation_id));
      item.append(button);
      return item;
    }));
  }

  function renderTranscript(messages, readings) {
    const list = $("transcript");
    list.replaceChildren(...messages.map((m) => {
      const item = el("li", null, m.sender);
      item.dataset.messageId = m.id;
      const reading = readings[m.id];
      let meta = m.channel ? `${m.sender} · ${m.channel}` : m.sender;
      if (reading && reading.intent) meta += ` · ${reading.intent} (${Number(reading.confidence).toFixed(2)})`;
      if (reading && reading.sentiment !== undefined) meta += ` · sentiment ${reading.sentiment}`;
      item.append(el("span", meta, "meta"), el("span", m.text || "", "text"));
      if (m.channel) item.dataset.channel = m.channel;
      return item;
    }));
    list.scrollTop = list.scrollHeight;
  }

  let readings = {};

  function renderContext(ctx) {
    readings = {};
    for (const m of ctx.transcript) if (m.direction === "in") readings[m.id] = m;
    renderTranscript(ctx.transcript, readings);
    const rows = [
      ["Summary", ctx.summary],
      ["Reason", ctx.reason],
      ["Queue", `${ctx.queue || ""} · ${ctx.language} · ${ctx.channel}`],
      ["Customer", `${ctx.profile.name || ctx.profile.shop.shop_name || "(no name)"}${ctx.profile.vip ? " · VIP" : ""}${ctx.profile.email ? " · " + ctx.profile.email : ""}`],
      ["Shop", ctx.profile.shop.linked ? `${ctx.profile.shop.tier} customer · ${ctx.profile.shop.orders} orders` : (ctx.profile.shop.shop_available ? "not linked to a shop customer" : "shop unavailable")],
      ["Past conversations", ctx.profile.past_conversations.map((p) => `${p.started.slice(0, 10)} ${p.outcome}`).join("\n") || "none"],
      ["Slots", Object.entries(ctx.slots).map(([k, v]) => `${k}: ${v}`).join("\n") || "none"],
      ["Sentiment", ctx.sentiment.average === null ? "n/a" : `average ${ctx.sentiment.average}, last ${ctx.sentiment.last}, trend ${ctx.sentiment.trend}`],
    ];
    $("context").replaceChildren(...rows.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
    renderCanned($("suggestions"), ctx.suggestions);
    renderNotes(ctx.notes);
    renderReplyTo(ctx.reply_to || [], ctx.reply_default);
  }

  function renderReplyTo(addresses, chosen) {
    $("reply-channel").replaceChildren(...addresses.map((a) => {
      const option = el("option", `${a.channel} · ${a.address}`);
      option.value = String(a.identity_id);
      option.selected = a.identity_id === chosen;
      return option;
    }));
  }

  function renderNotes(notes) {
    $("notes").replaceChildren(...notes.map((n) => el("li", `${n.agent}: ${n.text}`)));
  }

  function renderCanned(list, answers) {
    list.replaceChildren(...answers.map((a) => {
      const item = el("li");
      const use = el("button", "Use");
      use.type = "button";
      use.addEventListener("click", () => { $("reply-text").value = a.answer; $("reply-text").focus(); });
      item.append(el("strong", a.question), el("div", a.answer), use);
      return item;
    }));
  }

  async function open(conversationId) {
    current = conversationId;
    $("conversation-empty").hidden = true;
    $("conversation").hidden = false;
    $("conversation").dataset.conversation = conversationId;
    if (socket && socket.readyState === 1) socket.send(JSON.stringify({ watch: conversationId }));
    renderContext(await api("GET", `/console/api/conversations/${conversationId}`));
  }

  function say(text) { $("action-result").textContent = text; }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/console/ws`);
    socket.addEventListener("open", () => {
      document.body.dataset.live = "yes";
      if (current) socket.send(JSON.stringify({ watch: current }));
    });
    socket.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data);
      if (frame.type !== "queue") return;
      window.dispatchEvent(new CustomEvent("console:frame", { detail: frame }));
      if (frame.agent) {
        $("agent-state").value = frame.agent.state;
        $("agent-load").textContent = `${frame.agent.active} of ${frame.agent.capacity} conversations`;
      }
      renderEntries($("mine"), frame.mine);
      renderEntries($("waiting"), frame.waiting);
      if (frame.watched && frame.watched.conversation_id === current) {
        renderTranscript(frame.watched.messages, readings);
        renderNotes(frame.watched.notes);
      }
    });
    socket.addEventListener("close", () => { document.body.dataset.live = "no"; setTimeout(connect, 1000); });
  }

  $("agent-state").addEventListener("change", async (e) => { await api("POST", "/console/api/state", { state: e.target.value }); });
  $("take-next").addEventListener("click", async () => {
    const result = await api("POST", "/console/api/take-next", {});
    $("take-result").textContent = result.conversation_id ? "Conversation taken." : "Nothing waits for you.";
    if (result.conversation_id) await open(result.conversation_id);
  });
  $("reply-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text || !current) return;
    const to = $("reply-channel").value;
    const body = to ? { text, identity_id: Number(to) } : { text };
    try {
      const sent = await api("POST", `/console/api/conversations/${current}/reply`, body);
      $("reply-text").value = "";
      say(`Sent on ${sent.channel}.`);
    }
    catch (err) { say(err.message); }
  });
  $("note-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("note-text").value.trim();
    if (!text || !current) return;
    try { await api("POST", `/console/api/conversations/${current}/note`, { text }); $("note-text").value = ""; say("Note added."); }
    catch (err) { say(err.message); }
  });
  $("canned-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = $("canned-q").value.trim();
    const data = await api("GET", `/console/api/canned?q=${encodeURIComponent(q)}`);
    renderCanned($("canned-results"), data.answers);
  });
  async function finish(path, body, done) {
    try {
      await api("POST", `/console/api/conversations/${current}/${path}`, body);
      say(done);
      current = null;
      $("conversation").hidden = true;
      $("conversation-empty").hidden = false;
      if (socket && socket.readyState === 1) socket.send(JSON.stringify({ watch: null }));
    } catch (err) { say(err.message); }
  }
  $("resolve").addEventListener("click", () => finish("resolve", { disposition: $("disposition").value }, "Resolved."));
  $("hand-back").addEventListener("click", () => finish("hand-back", {}, "Handed back to the bot."));
  $("transfer").addEventListener("click", () => finish("transfer", { queue: $("transfer-queue").value.trim() || null, note: $("transfer-note").value.trim() || null }, "Transferred."));
  // Frames come when something changes; the waiting times count on in between.
  setInterval(() => {
    for (const button of document.querySelectorAll(".entries button[data-waiting]")) {
      const waited = Number(button.dataset.waiting) + (Date.now() - Number(button.dataset.base)) / 1000;
      button.textContent = `${button.dataset.label} · ${Math.round(waited)} s`;
    }
  }, 1000);
  connect();
})();
