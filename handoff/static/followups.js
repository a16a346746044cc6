// Follow-ups in the agent console: the open ones, each answered once. Reloaded when the
// live socket's count of open follow-ups changes. All text goes in through textContent.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  let known = null;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function render(items) {
    $("follow-ups-count").textContent = `(${items.length})`;
    $("follow-ups").replaceChildren(...items.map((f) => {
      const item = el("li");
      item.dataset.followUp = f.id;
      const where = f.email ? `answer by email to ${f.email}` : `no email known: answer on ${f.channel}`;
      item.append(
        el("div", `${f.customer || "(no name)"} · ${f.reason.replace(/_/g, " ")} · ${f.created_at.slice(0, 16).replace("T", " ")}`, "meta"),
        ...f.customer_wrote.map((t) => el("blockquote", t)),
        el("div", where, "muted"),
      );
      const form = el("form");
      const label = el("label", "Answer");
      const text = el("textarea");
      text.rows = 3;
      text.maxLength = 4000;
      label.append(text);
      const send = el("button", "Send answer");
      send.type = "submit";
      form.append(label, send);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        const answer = text.value.trim();
        if (!answer) return;
        send.disabled = true;
        try {
          const response = await fetch(`/console/api/follow-ups/${f.id}/answer`, {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
            body: JSON.stringify({ text: answer }),
            credentials: "same-origin",
          });
          const data = await response.json().catch(() => null);
          if (!response.ok) throw new Error((data && (data.detail || data.error)) || response.statusText);
          $("follow-up-result").textContent = `Answered by ${data.channel}.`;
          item.remove();
        } catch (err) {
          $("follow-up-result").textContent = err.message;
          send.disabled = false;
        }
      });
      item.append(form);
      return item;
    }));
  }

  async function load() {
    const response = await fetch("/console/api/follow-ups", { credentials: "same-origin" });
    if (response.ok) render((await response.json()).follow_ups);
  }

  window.addEventListener("console:frame", (event) => {
    const count = event.detail.follow_ups_open;
    if (count !== known) { known = count; load(); }
  });
})();
