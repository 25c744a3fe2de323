// leadpipe console: pushed updates on every signed-in page. One
// EventSource per page follows /ajax/events (the browser reconnects by
// itself and sends the last id it saw, so nothing is missed); pages listen
// through window.leadpipeLive.on(kind, handler). Notifications (a lead
// assigned to me, a customer writing on my lead, a mention, my lead
// overdue, a follow-up due) update the unread count in the header and the
// tab's title, and, when the user turned them on (asked for once, a
// setting on the Alerts page), show one browser notification each while
// the tab is in the background. Text from the
// server is only ever put in the page with textContent.
"use strict";
(function () {
  if (!document.querySelector('meta[name="csrf-token"]') || !window.EventSource) return;
  const SETTING = "leadpipe.notifications"; // "on" or "off"; unset: not asked yet
  const handlers = new Map(); // kind -> [handler]
  const baseTitle = document.title.replace(/^\(\d+\) /, "");

  function on(kind, handler) {
    if (!handlers.has(kind)) handlers.set(kind, []);
    handlers.get(kind).push(handler);
  }

  function emit(kind, data) {
    for (const handler of handlers.get(kind) || []) {
      try { handler(data); } catch (e) { console.error(e); }
    }
  }

  function wanted() {
    return localStorage.getItem(SETTING) === "on" && "Notification" in window
      && Notification.permission === "granted";
  }

  function showUnread(count) {
    document.title = count > 0 ? "(" + count + ") " + baseTitle : baseTitle;
    const link = document.getElementById("nav-notifications");
    if (!link) return;
    let badge = document.getElementById("unread-count");
    if (count > 0) {
      if (!badge) {
        badge = document.createElement("span");
        badge.id = "unread-count";
        badge.className = "unread-count";
        link.append(" ", badge);
      }
      badge.textContent = String(count);
    } else if (badge) {
      badge.remove();
    }
  }

  function notify(title, body, lead) {
    if (!wanted() || !document.hidden) return;
    const shown = new Notification(title, { body: body, tag: lead || undefined });
    shown.onclick = () => {
      window.focus();
      if (lead) location.href = "/leads/" + lead;
    };
  }

  async function refreshUnread(tell) {
    const response = await fetch("/ajax/notifications/", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return;
    const data = await response.json();
    showUnread(data.unread);
    const newest = data.notifications[0];
    if (tell && newest && !newest.read) notify("leadpipe", newest.text, newest.lead_id);
  }

  const source = new EventSource("/ajax/events");
  for (const kind of ["message", "reply", "lead", "notification", "reset"]) {
    source.addEventListener(kind, (event) => {
      let data = {};
      try { data = JSON.parse(event.data); } catch (e) { /* a bare event */ }
      emit(kind, data);
    });
  }
  on("notification", () => refreshUnread(true).catch(() => {}));
  on("reset", () => refreshUnread(false).catch(() => {}));

  // Server-drawn pages (the lead list, a lead) say that they changed and
  // offer a reload, rather than redrawing under a half-filled form.
  function offerReload() {
    if (document.getElementById("live-changed")) return;
    const note = document.createElement("p");
    note.id = "live-changed";
    note.className = "live-changed";
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Updated — reload";
    button.addEventListener("click", () => location.reload());
    note.append(button);
    document.querySelector("main").prepend(note);
  }
  const list = document.querySelector('[data-live="leads"]');
  const lead = document.querySelector("[data-live-lead]");
  if (list) for (const kind of ["lead", "reset"]) on(kind, offerReload);
  if (lead) {
    const id = lead.dataset.liveLead;
    for (const kind of ["lead", "message", "reply"]) {
      on(kind, (data) => { if (data.lead === id) offerReload(); });
    }
    on("reset", offerReload);
  }

  // The setting on the Alerts page: asks the browser once, when turned on.
  const toggle = document.getElementById("browser-notifications");
  function drawToggle() {
    if (!toggle) return;
    if (!("Notification" in window)) {
      toggle.disabled = true;
      toggle.textContent = "Browser notifications: not available here";
      return;
    }
    toggle.textContent = wanted() ? "Browser notifications: on (turn off)" : "Browser notifications: off (turn on)";
  }
  if (toggle) {
    toggle.addEventListener("click", async () => {
      if (wanted()) {
        localStorage.setItem(SETTING, "off");
      } else {
        const answer = Notification.permission === "default"
          ? await Notification.requestPermission() : Notification.permission;
        localStorage.setItem(SETTING, answer === "granted" ? "on" : "off");
      }
      drawToggle();
    });
    drawToggle();
  }

  window.leadpipeLive = {
    on: on,
    source: source,
    // A page that marked something read (the chat panel) redraws the count.
    refreshUnread: () => refreshUnread(false).catch(() => {}),
  };
})();
