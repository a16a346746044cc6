/*
 * Switchboard web chat widget (Northwind Goods).
 *
 * Plain ES2020, no dependencies, CSP-friendly (no inline code, no innerHTML
 * with data). Speaks the Switchboard web chat protocol over a WebSocket at
 * /webchat/ws on the same host.
 *
 * SECURITY: every piece of text that comes from the server or the customer is
 * rendered through textContent / createTextNode. Do not introduce innerHTML.
 */
(() => {
  'use strict';

  const MAX_LEN = 4000;
  const COUNTER_FROM = 3500;            // show the character counter from here on
  const BACKOFF_START_MS = 500;
  const BACKOFF_MAX_MS = 10000;
  const TYPING_TIMEOUT_MS = 60000;      // safety net if "typing: false" never comes
  const NOTICE_MS = 8000;
  const KEY_SESSION = 'switchboard.session';
  const KEY_LAST_ID = 'switchboard.last_id';
  const KEY_PENDING = 'switchboard.pending'; // sessionStorage: unacked messages of this tab

  const STATUS_TEXT = {
    connecting: 'Connecting…',
    online: 'Online',
    reconnecting: 'Reconnecting…',
  };
  const SENDER_LABEL = { bot: 'Assistant', agent: 'Agent', system: '', customer: 'You' };

  // ---------------------------------------------------------------- storage

  function storageGet(store, key) {
    try { return window[store].getItem(key); } catch (_) { return null; }
  }
  function storageSet(store, key, value) {
    try { window[store].setItem(key, value); } catch (_) { /* private mode etc. */ }
  }

  // ---------------------------------------------------------------- ids

  function randomBytes(n) {
    const bytes = new Uint8Array(n);
    crypto.getRandomValues(bytes);
    return bytes;
  }
  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }
  function uuid4() {
    const b = randomBytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = toHex(b);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function loadSession() {
    let id = storageGet('localStorage', KEY_SESSION);
    if (!id || !/^[0-9a-f]{32}$/.test(id)) {
      id = toHex(randomBytes(16));
      storageSet('localStorage', KEY_SESSION, id);
    }
    return id;
  }

  // ---------------------------------------------------------------- helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }
  function pad2(n) { return String(n).padStart(2, '0'); }
  function formatTime(date) {
    return `${pad2(date.getHours())}:${pad2(date.getMinutes())}`;
  }
  function parseDate(value) {
    if (typeof value !== 'string') return null;
    const d = new Date(value);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  function safeImageUrl(url) {
    if (typeof url !== 'string') return null;
    const u = url.trim();
    if (!u || /[\u0000-\u001f\u007f]/.test(u)) return null;
    if (/^https?:\/\//i.test(u) || u.startsWith('/')) return u;
    return null;
  }
  function isInt(v) { return Number.isInteger(v) && v > 0; }

  // ---------------------------------------------------------------- DOM refs

  const $ = (id) => document.getElementById(id);
  const ui = {
    status: $('chat-status'),
    statusText: document.querySelector('#chat-status .chat-status-text'),
    scroll: $('chat-scroll'),
    list: $('chat-messages'),
    typing: $('chat-typing'),
    typingText: document.querySelector('#chat-typing .chat-typing-text'),
    notice: $('chat-notice'),
    form: $('chat-form'),
    input: $('chat-input'),
    send: $('chat-send'),
    counter: $('chat-counter'),
  };

  // ---------------------------------------------------------------- state

  const session = loadSession();
  const byId = new Map();        // message id -> <li>
  const pending = new Map();     // client_id -> {client_id, text, payload, el}  (insertion ordered)
  let maxId = 0;                 // highest message id displayed on this page
  let state = 'connecting';
  let ws = null;
  let attempt = 0;
  let reconnectTimer = null;
  let typingTimer = null;
  let noticeTimer = null;
  let everConnected = false;

  // ---------------------------------------------------------------- status

  function setState(next) {
    state = next;
    ui.status.dataset.state = next;
    ui.statusText.textContent = STATUS_TEXT[next] || next;
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { ui.notice.hidden = true; ui.notice.textContent = ''; }, NOTICE_MS);
  }

  function setTyping(active) {
    clearTimeout(typingTimer);
    if (active) {
      const wasHidden = ui.typing.hidden;
      ui.typing.hidden = false;
      if (wasHidden) {
        // Change the live region's text after it became visible so screen readers announce it.
        ui.typingText.textContent = '';
        setTimeout(() => { ui.typingText.textContent = 'Assistant is typing…'; }, 50);
        scrollToBottom(false);
      }
      typingTimer = setTimeout(() => setTyping(false), TYPING_TIMEOUT_MS);
    } else {
      ui.typing.hidden = true;
    }
  }

  // ---------------------------------------------------------------- scrolling

  // "stick" is true while the customer is at (or near) the bottom of the list; it is
  // updated on every scroll, so content added later (messages, typing, images)
  // keeps the view pinned unless the customer scrolled up to read.
  let stick = true;
  function nearBottom() {
    const s = ui.scroll;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }
  ui.scroll.addEventListener('scroll', () => { stick = nearBottom(); }, { passive: true });
  function scrollToBottom(force) {
    if (force) stick = true;
    if (!stick) return;
    ui.scroll.scrollTop = ui.scroll.scrollHeight;
    requestAnimationFrame(() => { if (stick) ui.scroll.scrollTop = ui.scroll.scrollHeight; });
  }

  // ---------------------------------------------------------------- rendering

  /** Build the element for a stored message from the server. */
  function renderMessage(m) {
    const dir = m.direction === 'in' ? 'in' : 'out';
    const sender = typeof m.sender === 'string' ? m.sender : (dir === 'in' ? 'customer' : 'bot');
    const li = el('li', `msg msg-${dir} msg-sender-${sender.replace(/[^a-z]/g, '') || 'unknown'}`);
    li.dataset.id = String(m.id);

    const label = SENDER_LABEL[sender];
    if (dir === 'out' && label) li.appendChild(el('span', 'msg-sender', label));
    else if (dir === 'in') li.appendChild(el('span', 'visually-hidden', 'You said: '));

    const bubble = el('div', 'msg-bubble');
    if (typeof m.text === 'string' && m.text !== '') bubble.appendChild(el('p', 'msg-text', m.text));

    const src = safeImageUrl(m.image);
    if (src) {
      const img = document.createElement('img');
      img.className = 'msg-image';
      img.alt = typeof m.text === 'string' && m.text ? 'Image attached to the message' : 'Image';
      img.loading = 'lazy';
      img.decoding = 'async';
      img.referrerPolicy = 'no-referrer';
      img.addEventListener('error', () => { img.hidden = true; });
      img.addEventListener('load', () => scrollToBottom(false));
      img.src = src;
      bubble.appendChild(img);
    }
    if (bubble.childNodes.length) li.appendChild(bubble);

    const meta = el('div', 'msg-meta');
    const date = parseDate(m.created_at);
    if (date) {
      const t = el('time', 'msg-time', formatTime(date));
      t.dateTime = date.toISOString();
      t.title = date.toLocaleString();
      meta.appendChild(t);
    }
    li.appendChild(meta);

    if (dir === 'out' && Array.isArray(m.buttons) && m.buttons.length) {
      li.appendChild(renderButtons(m.buttons));
    }
    return li;
  }

  function renderButtons(buttons) {
    const group = el('div', 'quick-replies');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', 'Suggested replies');
    for (const b of buttons) {
      if (!b || typeof b !== 'object') continue;
      const title = typeof b.title === 'string' ? b.title : String(b.payload ?? '');
      const payload = typeof b.payload === 'string' ? b.payload : title;
      if (!title) continue;
      const btn = el('button', 'quick-reply', title);
      btn.type = 'button';
      btn.addEventListener('click', () => {
        if (btn.disabled) return;
        btn.classList.add('quick-reply-chosen');
        setGroupDisabled(group, true);
        sendMessage(title, payload);
      });
      group.appendChild(btn);
    }
    return group;
  }

  function setGroupDisabled(group, disabled) {
    group.classList.toggle('quick-replies-used', disabled);
    for (const b of group.querySelectorAll('button.quick-reply')) b.disabled = disabled;
  }

  /**
   * Only the button group of the latest bot message stays active, and only if the
   * customer has not written anything after it.
   */
  function refreshQuickReplies() {
    const items = Array.from(ui.list.children);
    let lastIn = -1;
    items.forEach((li, i) => { if (li.classList.contains('msg-in')) lastIn = i; });
    let activeIdx = -1;
    for (let i = items.length - 1; i > lastIn; i--) {
      if (items[i].classList.contains('msg-out')) { activeIdx = i; break; }
    }
    items.forEach((li, i) => {
      const group = li.querySelector('.quick-replies');
      if (!group) return;
      if (i !== activeIdx) setGroupDisabled(group, true);
      else if (!group.querySelector('.quick-reply-chosen')) setGroupDisabled(group, false);
    });
  }

  /** Insert an element with a known id in id order, before pending messages. */
  function placeById(li, id) {
    let ref = null;
    for (const child of ui.list.children) {
      if (child === li) continue;
      const isPending = child.classList.contains('msg-pending') && !child.classList.contains('msg-failed');
      const cid = Number(child.dataset.id);
      if (isPending || (child.dataset.id && cid > id)) { ref = child; break; }
    }
    ui.list.insertBefore(li, ref);
  }

  function noteId(id) {
    if (id > maxId) {
      maxId = id;
      storageSet('localStorage', KEY_LAST_ID, String(maxId));
    }
  }

  /** Show a server message unless it is already displayed. Returns true if added. */
  function addServerMessage(m) {
    if (!m || typeof m !== 'object' || !isInt(m.id)) return false;
    noteId(m.id);
    if (byId.has(m.id)) return false;
    const li = renderMessage(m);
    byId.set(m.id, li);
    placeById(li, m.id);
    return true;
  }

  function renderPending(p) {
    const li = el('li', 'msg msg-in msg-sender-customer msg-pending');
    li.dataset.clientId = p.client_id;
    li.appendChild(el('span', 'visually-hidden', 'You said: '));
    const bubble = el('div', 'msg-bubble');
    bubble.appendChild(el('p', 'msg-text', p.text));
    li.appendChild(bubble);
    const meta = el('div', 'msg-meta');
    meta.appendChild(el('span', 'msg-state', 'Sending…'));
    li.appendChild(meta);
    return li;
  }

  function setPendingState(p, text) {
    const s = p.el.querySelector('.msg-state');
    if (s) s.textContent = text;
  }

  // ---------------------------------------------------------------- pending queue persistence

  function savePending() {
    const list = Array.from(pending.values(), (p) => ({ client_id: p.client_id, text: p.text, payload: p.payload }));
    storageSet('sessionStorage', KEY_PENDING, JSON.stringify(list));
  }

  function restorePending() {
    let list = [];
    try { list = JSON.parse(storageGet('sessionStorage', KEY_PENDING) || '[]'); } catch (_) { list = []; }
    if (!Array.isArray(list)) return;
    for (const item of list) {
      if (!item || typeof item.client_id !== 'string' || typeof item.text !== 'string') continue;
      const p = { client_id: item.client_id, text: item.text, payload: typeof item.payload === 'string' ? item.payload : null };
      p.el = renderPending(p);
      pending.set(p.client_id, p);
      ui.list.appendChild(p.el);
      setPendingState(p, 'Waiting for connection…');
    }
  }

  // ---------------------------------------------------------------- sending

  function isOpen() { return ws && ws.readyState === WebSocket.OPEN; }

  function transmit(p) {
    if (!isOpen()) return false;
    const frame = { type: 'message', client_id: p.client_id, text: p.text };
    if (p.payload != null) frame.payload = p.payload;
    try {
      ws.send(JSON.stringify(frame));
      setPendingState(p, 'Sending…');
      return true;
    } catch (_) {
      return false;
    }
  }

  function sendMessage(text, payload) {
    const p = { client_id: uuid4(), text, payload: payload ?? null };
    p.el = renderPending(p);
    pending.set(p.client_id, p);
    savePending();
    ui.list.appendChild(p.el);
    refreshQuickReplies();
    scrollToBottom(true);
    if (!transmit(p)) setPendingState(p, 'Waiting for connection…');
    ui.input.focus();
  }

  function submitInput() {
    const raw = ui.input.value;
    if (!raw.trim()) { ui.input.focus(); return; }
    const text = raw.length > MAX_LEN ? raw.slice(0, MAX_LEN) : raw;
    ui.input.value = '';
    onInputChanged();
    sendMessage(text, null);
  }

  // ---------------------------------------------------------------- incoming frames

  function onAck(frame) {
    const p = pending.get(frame.client_id);
    if (!p || !isInt(frame.id)) return;
    pending.delete(frame.client_id);
    savePending();
    noteId(frame.id);
    if (byId.has(frame.id)) {
      // Already shown (history or echo came first): drop the optimistic copy.
      p.el.remove();
    } else {
      const li = p.el;
      li.classList.remove('msg-pending');
      delete li.dataset.clientId;
      li.dataset.id = String(frame.id);
      const meta = li.querySelector('.msg-meta');
      meta.textContent = '';
      const now = new Date();
      const t = el('time', 'msg-time', formatTime(now));
      t.dateTime = now.toISOString();
      meta.appendChild(t);
      byId.set(frame.id, li);
      placeById(li, frame.id);
    }
    refreshQuickReplies();
  }

  function onError(frame) {
    const detail = typeof frame.detail === 'string' && frame.detail ? frame.detail : 'Something went wrong.';
    if (typeof frame.client_id === 'string' && pending.has(frame.client_id)) {
      const p = pending.get(frame.client_id);
      pending.delete(frame.client_id);
      savePending();
      p.el.classList.add('msg-failed');
      setPendingState(p, `Not delivered: ${detail}`);
      return;
    }
    showNotice(detail);
  }

  function onFrame(frame) {
    if (!frame || typeof frame !== 'object') return;
    switch (frame.type) {
      case 'history': {
        const msgs = Array.isArray(frame.messages) ? frame.messages : [];
        ui.list.setAttribute('aria-busy', 'true');
        for (const m of msgs) addServerMessage(m);
        ui.list.removeAttribute('aria-busy');
        refreshQuickReplies();
        scrollToBottom(false);
        break;
      }
      case 'message': {
        const m = frame.message;
        if (addServerMessage(m) && m.direction !== 'in') setTyping(false);
        refreshQuickReplies();
        scrollToBottom(m && m.direction === 'in');
        break;
      }
      case 'ack':
        onAck(frame);
        break;
      case 'typing':
        setTyping(frame.active === true);
        break;
      case 'error':
        onError(frame);
        break;
      default:
        break; // unknown frame types are ignored for forward compatibility
    }
  }

  // ---------------------------------------------------------------- connection

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/webchat/ws`;
  }

  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    let sock;
    try {
      sock = new WebSocket(wsUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws = sock;

    sock.addEventListener('open', () => {
      if (ws !== sock) return;
      attempt = 0;
      everConnected = true;
      setState('online');
      // On page load maxId is 0 -> full history. Within the page -> resume.
      sock.send(JSON.stringify({ type: 'hello', session, after_id: maxId }));
      // Frames on one socket are processed in order, so re-sending right after hello is safe;
      // unacked messages keep their client_id so the server can dedupe them.
      for (const p of pending.values()) transmit(p);
    });

    sock.addEventListener('message', (ev) => {
      if (ws !== sock || typeof ev.data !== 'string') return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch (_) { return; }
      onFrame(frame);
    });

    sock.addEventListener('close', () => {
      if (ws !== sock) return;
      ws = null;
      setTyping(false);
      for (const p of pending.values()) setPendingState(p, 'Waiting for connection…');
      scheduleReconnect();
    });
    // 'error' is always followed by 'close'; nothing to do here.
  }

  function scheduleReconnect() {
    setState(everConnected ? 'reconnecting' : (attempt === 0 ? 'connecting' : 'reconnecting'));
    if (reconnectTimer) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** attempt);
    const delay = Math.min(BACKOFF_MAX_MS, base * (0.75 + Math.random() * 0.5)); // +/-25 % jitter
    attempt += 1;
    reconnectTimer = setTimeout(connect, delay);
  }

  function reconnectNow() {
    if (ws || !reconnectTimer) return;
    attempt = 0;
    connect();
  }

  // ---------------------------------------------------------------- input

  function autoGrow() {
    ui.input.style.height = 'auto';
    ui.input.style.height = `${Math.min(ui.input.scrollHeight, 160)}px`;
  }

  function onInputChanged() {
    const len = ui.input.value.length;
    if (len >= COUNTER_FROM) {
      ui.counter.hidden = false;
      ui.counter.textContent = `${len} / ${MAX_LEN}`;
      ui.counter.classList.toggle('chat-counter-full', len >= MAX_LEN);
    } else {
      ui.counter.hidden = true;
      ui.counter.textContent = '';
    }
    autoGrow();
  }

  ui.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitInput();
  });

  ui.input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
      ev.preventDefault();
      submitInput();
    }
  });
  ui.input.addEventListener('input', onInputChanged);

  window.addEventListener('online', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') reconnectNow();
  });

  // ---------------------------------------------------------------- test hook

  window.switchboardChat = Object.freeze({ state: () => state });

  // ---------------------------------------------------------------- start

  ui.input.maxLength = MAX_LEN;
  restorePending();
  setState('connecting');
  connect();
  ui.input.focus({ preventScroll: true });
})();
