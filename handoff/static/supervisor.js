// Supervisor view: queues, waiting conversations, agents and today's figures, live.
(() => {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const cell = (text) => { const td = document.createElement("td"); td.textContent = text === null || text === undefined ? "" : String(text); return td; };
  const row = (...values) => { const tr = document.createElement("tr"); tr.append(...values.map(cell)); return tr; };
  // Frames come when something changes; waiting times count on in between.
  const ticking = (tr, index, seconds) => {
    const td = tr.children[index];
    td.dataset.waiting = seconds;
    td.dataset.base = Date.now();
    return tr;
  };
  setInterval(() => {
    for (const td of document.querySelectorAll("td[data-waiting]")) {
      td.textContent = String(Math.round(Number(td.dataset.waiting) + (Date.now() - Number(td.dataset.base)) / 1000));
    }
  }, 1000);
  const pct = (v) => (v === null ? "n/a" : `${Math.round(v * 100)}%`);
  function render(frame) {
    const m = frame.metrics;
    const figures = [
      ["Service level", `${pct(m.service_level)} within ${m.service_level_threshold_s} s`],
      ["Average speed of answer", m.average_speed_of_answer_s === null ? "n/a" : `${m.average_speed_of_answer_s} s`],
      ["Abandonment", pct(m.abandonment_rate)],
      ["Average handle time", m.average_handle_time_s === null ? "n/a" : `${m.average_handle_time_s} s`],
      ["First-contact resolution", pct(m.first_contact_resolution)],
      ["CSAT", m.csat_average === null ? "n/a" : `${m.csat_average} (${m.csat_responses})`],
      ["Containment", pct(m.containment)],
      ["Handoffs", m.handoffs],
    ];
    $("metrics").replaceChildren(...figures.flatMap(([k, v]) => {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = String(v);
      return [dt, dd];
    }));
    $("queues").replaceChildren(...frame.queues.map((q) => {
      const tr = row(q.queue, q.waiting, q.longest_s, q.with_agents);
      return q.waiting > 0 ? ticking(tr, 2, q.longest_s) : tr;
    }));
    $("waiting").replaceChildren(...frame.waiting.map((e) => ticking(row(e.queue, e.reason, e.priority, e.waiting_s), 3, e.waiting_s)));
    $("agents").replaceChildren(...frame.agents.map((a) => row(a.display_name, a.state, `${a.active}/${a.capacity}`, a.skills.join(", "))));
  }
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/console/supervisor/ws`);
    socket.addEventListener("open", () => { document.body.dataset.live = "yes"; });
    socket.addEventListener("message", (event) => { const frame = JSON.parse(event.data); if (frame.type === "supervisor") render(frame); });
    socket.addEventListener("close", () => { document.body.dataset.live = "no"; setTimeout(connect, 1000); });
  }
  connect();
})();
