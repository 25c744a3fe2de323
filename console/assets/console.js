// leadpipe console: the chat panel's list and thread, redrawn when the
// server pushes a change (live.js) rather than on a timer. Served by the
// console itself (no CDN). Every piece of text from the server is put in
// the page with textContent, never as markup.
"use strict";
(function () {
  const chat = document.querySelector(".chat");
  if (!chat) return;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const list = document.getElementById("conversations");
  const search = document.getElementById("search");
  const thread = document.getElementById("thread");
  const empty = document.getElementById("empty");
  const messages = document.getElementById("messages");
  const form = document.getElementById("reply-form");
  const reply = document.getElementById("reply");
  const status = document.getElementById("send-status");
  const templateForm = document.getElementById("template-form");
  const templateName = document.getElementById("template-name");
  const templateFields = document.getElementById("template-fields");
  const templatePreview = document.getElementById("template-preview");
  let templates = null; // the approved templates, read once a page needs them
  let view = "all"; // whose conversations: mine, unassigned or all
  const cannedList = document.getElementById("canned");
  let quoting = null; // {id, text}: the message the next reply quotes
  let canned = null; // the canned replies this person may use, read when first wanted
  const noteBox = document.getElementById("note-box");
  const note = document.getElementById("note");
  // Pushed changes come in bursts (a batch of messages): one redraw each
  // this often at most.
  const COALESCE_MS = 150;
  let current = decodeURIComponent(location.hash.slice(1)) || null;
  let pending = new Map(); // reply id -> {text, at}
  let lastRendered = "";
  // Whether the thread follows its newest message (it was at the bottom,
  // or staff just sent one).
  let stickToBottom = true;
  let followNext = false;
  let lastThread = null; // the newest thread data, for redrawing at once

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    if (response.status === 401) { location.href = "/login"; throw new Error("signed out"); }
    if (!response.ok) throw new Error(url + ": " + response.status);
    return response.json();
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body === undefined ? "{}" : JSON.stringify(body),
    });
  }

  async function refreshList() {
    const q = search.value.trim();
    const wanted = document.getElementById("status-filter").value;
    const data = await getJSON("/ajax/tata-conversations/?view=" + view
      + (wanted ? "&status=" + wanted : "") + (q ? "&q=" + encodeURIComponent(q) : ""));
    for (const button of document.querySelectorAll("#views button")) {
      button.querySelector(".count").textContent = data.counts[button.dataset.view];
      button.classList.toggle("current", button.dataset.view === view);
      button.setAttribute("aria-pressed", button.dataset.view === view ? "true" : "false");
    }
    list.replaceChildren(...data.conversations.map((c) => {
      const item = el("li", c.phone === current ? "conversation open" : "conversation");
      item.dataset.phone = c.phone;
      item.append(
        el("span", "name", c.name || c.phone),
        el("span", "time", c.last_message_at_ist),
        el("span", "last", (c.last_direction === "outbound" ? "You: " : "") + c.last_message),
      );
      if (c.owner) item.append(el("span", "owner", c.owner));
      if (c.status !== "open") item.append(el("span", "status " + c.status, c.status));
      if (c.unread > 0 && c.phone !== current) item.append(el("span", "unread", c.unread));
      item.addEventListener("click", () => open(c.phone));
      return item;
    }));
  }

  // An incoming message's content by its type (the server's `content`).
  function contentNode(m) {
    const c = m.content;
    if (!c || c.type === "text") return el("span", "text", m.text);
    if (c.type === "location") {
      const box = el("span", "text location", "📍 " + (c.name || "Location") + (c.address ? ", " + c.address : "") + " ");
      const map = el("a", "map", "Open the map");
      map.href = c.map_url;
      map.target = "_blank";
      map.rel = "noopener noreferrer";
      box.append(map);
      return box;
    }
    if (c.type === "contacts") {
      const box = el("span", "text contacts");
      for (const card of c.cards) {
        const item = el("span", "card");
        item.append(el("strong", null, card.name));
        for (const phone of card.phones) item.append(" ", el("span", "phone", phone));
        box.append(item);
      }
      return box;
    }
    if (c.type === "media") return mediaNode(m, c);
    if (c.type === "unsupported") {
      return el("span", "text notice", "WhatsApp could not show this message" + (c.reason ? " (" + c.reason + ")" : ""));
    }
    return el("span", "text", m.text); // a button pressed, a reaction, an unreadable one
  }

  function keepFollowing() {
    if (stickToBottom) messages.scrollTop = messages.scrollHeight;
  }
  // A phone turned, a keyboard opened: the newest message stays in view.
  window.addEventListener("resize", keepFollowing);

  // A photo, sticker, video, voice note or document: shown inline when
  // the server says it may be (plain image, video and audio types),
  // otherwise a download with its name and size; or why it is not here.
  function mediaNode(m, c) {
    const box = el("span", "text media");
    const f = c.file;
    if (f && f.state === "stored" && f.url) {
      if (f.inline === "image") {
        const img = el("img", "media-image");
        // A photo that loads after the thread was drawn keeps the newest
        // message in view, if it was.
        img.addEventListener("load", keepFollowing);
        img.src = f.url;
        img.alt = m.text;
        img.loading = "lazy";
        const open = el("a", "media-open");
        open.href = f.url;
        open.target = "_blank";
        open.rel = "noopener noreferrer";
        open.append(img);
        box.append(open);
      } else if (f.inline === "video" || f.inline === "audio") {
        const player = el(f.inline, "media-" + f.inline);
        player.controls = true;
        player.preload = "metadata";
        player.src = f.url;
        box.append(player);
      } else {
        const link = el("a", "media-download", "⬇ " + (c.filename || m.text) + (f.size ? " · " + bytesText(f.size) : ""));
        link.href = f.url;
        link.setAttribute("download", c.filename || "");
        box.append(link);
      }
      if (f.inline) box.append(el("span", "caption", m.text));
      return box;
    }
    const name = c.filename ? " (" + c.filename + ")" : "";
    const why = !f || f.state === "pending"
      ? "fetching the file from WhatsApp…"
      : f.state === "expired"
        ? "the file expired at WhatsApp before it could be fetched"
        : f.state === "too_large"
          ? "the file is too large to keep"
          : "the file could not be fetched" + (f.reason ? " (" + f.reason + ")" : "");
    box.append(m.text + name + " · " + why);
    return box;
  }

  function bytesText(n) {
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MB";
    if (n >= 1024) return Math.round(n / 1024) + " KB";
    return n + " bytes";
  }

  function messageNode(m) {
    if (m.direction === "note") {
      const note = el("div", "message note");
      note.dataset.id = m.id;
      note.append(
        el("span", "note-label", "Private note · never sent"),
        el("span", "text", m.text),
        el("span", "meta", m.at_ist + " · " + m.sent_by),
      );
      return note;
    }
    const node = el("div", "message " + m.direction);
    node.dataset.id = m.id;
    if (m.quoted) {
      node.append(el("span", "quoted", m.quoted.text === null ? "A message not shown here" : m.quoted.text));
    }
    node.append(contentNode(m));
    if (m.reaction) node.append(el("span", "reaction", m.reaction));
    if (m.our_reaction) {
      const ours = el("span", "reaction ours", m.our_reaction.emoji);
      ours.title = "Your team's reaction · " + (m.our_reaction.state || "");
      node.append(ours, el("span", "reaction-state", m.our_reaction.state || ""));
      if (lastThread && lastThread.window_open) {
        const off = el("button", "react remove", "✕");
        off.type = "button";
        off.setAttribute("aria-label", "Take the reaction off");
        off.addEventListener("click", () => reactTo(m.id, "").catch(showError));
        node.append(off);
      }
    }
    const meta = el("span", "meta", m.at_ist);
    if (m.direction === "inbound") {
      const quote = el("button", "quote", "Quote");
      quote.type = "button";
      quote.addEventListener("click", () => setQuoting({ id: m.id, text: m.text }));
      meta.append(" ", quote);
      if (lastThread && lastThread.window_open) {
        for (const emoji of ["👍", "🙏", "❤️"]) {
          const react = el("button", "react", emoji);
          react.type = "button";
          react.setAttribute("aria-label", "React " + emoji);
          react.addEventListener("click", () => reactTo(m.id, emoji).catch(showError));
          meta.append(" ", react);
        }
      }
    }
    if (m.direction === "outbound") {
      meta.append(" · ");
      const state = el("span", "state " + m.state, m.state);
      meta.append(state);
      if (m.reason) meta.append(" — ", el("span", "reason", m.reason));
      if (m.state === "failed" || m.state === "unknown") {
        const again = el("button", "resend", "Send again");
        again.type = "button";
        again.addEventListener("click", () => sendAgain(m.id).catch(showError));
        meta.append(again);
      }
    }
    node.append(meta);
    return node;
  }

  async function refreshThread() {
    if (!current) return;
    const data = await getJSON("/ajax/tata-conversations/" + encodeURIComponent(current) + "/");
    if (data.phone !== current) return;
    document.getElementById("thread-name").textContent = data.lead && data.lead.name ? data.lead.name : data.phone;
    document.getElementById("thread-phone").textContent = data.phone;
    const lead = document.getElementById("thread-lead");
    lead.hidden = !data.lead;
    if (data.lead) lead.href = "/leads/" + data.lead.id;
    const statusPick = document.getElementById("thread-status");
    statusPick.value = data.status;
    statusPick.title = data.snoozed_until ? "Snoozed until " + new Date(data.snoozed_until).toLocaleString() : "";
    const windowNote = document.getElementById("window");
    windowNote.className = data.window_open ? "" : "closed";
    windowNote.textContent = data.window_open
      ? "Free text possible for " + remaining(data.window_closes_at) + " more (until " + data.window_closes_at_ist + ")"
      : data.window_closes_at
        ? "Outside WhatsApp's 24-hour window: only an approved template can be sent."
        : "This customer has not written on WhatsApp: only an approved template can be sent.";
    // Free text inside the window; outside it, the template picker.
    form.hidden = !data.window_open;
    templateForm.hidden = data.window_open;
    noteBox.hidden = !data.lead;
    lastThread = data;
    if (!data.window_open && templates === null) loadTemplates().catch(showError);
    drawMessages();
  }

  // What is left of WhatsApp's 24-hour window, in words.
  function remaining(closesAt) {
    const minutes = Math.max(0, Math.floor((Date.parse(closesAt) - Date.now()) / 60000));
    const hours = Math.floor(minutes / 60);
    return hours > 0 ? hours + " h " + (minutes % 60) + " min" : minutes + " min";
  }

  // The thread's messages, plus replies accepted but not yet seen from
  // the server (shown as queued at once).
  function drawMessages() {
    const data = lastThread;
    if (!data) return;
    const known = new Set(data.messages.map((m) => m.id));
    for (const id of pending.keys()) if (known.has(id)) pending.delete(id);
    if (pending.size === 0 && status.textContent === "Queued.") status.textContent = "";
    const shown = data.messages.concat([...pending.entries()].map(([id, p]) => ({
      id, direction: "outbound", text: p.text, at_ist: p.at, state: "queued",
    })));
    const key = JSON.stringify(shown);
    if (key === lastRendered) return;
    const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
    stickToBottom = atBottom || lastRendered === "" || followNext;
    followNext = false;
    messages.replaceChildren(...shown.map(messageNode));
    if (stickToBottom) messages.scrollTop = messages.scrollHeight;
    lastRendered = key;
    post("/ajax/tata-conversations/" + encodeURIComponent(current) + "/read")
      .then(() => { if (window.leadpipeLive) window.leadpipeLive.refreshUnread(); })
      .catch(() => {});
  }

  function open(phone) {
    current = phone;
    lastRendered = "";
    lastThread = null;
    pending = new Map();
    history.replaceState(null, "", "#" + encodeURIComponent(phone));
    thread.hidden = false;
    empty.hidden = true;
    chat.classList.add("reading");
    setQuoting(null);
    status.textContent = "";
    refreshThread().catch(showError);
    refreshList().catch(showError);
  }

  function showError(error) {
    status.className = "error";
    status.textContent = String(error.message || error);
  }

  async function send(text) {
    return queue({ phone: current, message: text }, text);
  }

  // The message the next reply quotes, shown above the composer.
  function setQuoting(message) {
    quoting = message;
    document.getElementById("quoting").hidden = !message;
    document.getElementById("quoting-text").textContent = message ? "Quoting: " + message.text : "";
    if (message) reply.focus();
  }

  // Sends a failed reply again as it was asked for (a template stays a
  // template, a reaction a reaction).
  async function sendAgain(replyId) {
    const response = await post("/ajax/tata-conversations/" + encodeURIComponent(current) + "/replies/" + encodeURIComponent(replyId) + "/again", {});
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) throw new Error(body.error || "The reply could not be sent again.");
    status.className = "";
    status.textContent = "Queued again.";
    refreshThread().catch(showError);
  }

  // Puts an emoji on one of the customer's messages (sent like a reply).
  async function reactTo(messageId, emoji) {
    const response = await post("/ajax/tata-conversations/" + encodeURIComponent(current) + "/reactions", { message_id: messageId, emoji });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) throw new Error(body.error || "The reaction could not be sent.");
    status.className = "";
    status.textContent = "Reaction queued.";
    refreshThread().catch(showError);
  }

  // Queues a reply (free text or a template) and shows it at once.
  async function queue(request, text) {
    status.className = "";
    status.textContent = "Sending…";
    if (quoting) request.quote = quoting.id;
    const response = await post("/ajax/tata-send-reply/", request);
    const body = await response.json().catch(() => ({}));
    if (response.status === 202) {
      followNext = true;
      setQuoting(null);
      pending.set(body.reply_id, { text, at: "now" });
      status.textContent = "Queued.";
      drawMessages();
      refreshThread().catch(showError);
      return true;
    }
    status.className = "error";
    status.textContent = body.error || ("Not sent (" + response.status + ")");
    return false;
  }

  // A file to send: uploaded first, then sent like a reply with the
  // text as its caption.
  const attach = document.getElementById("attach");
  const attached = document.getElementById("attached");
  attach.addEventListener("change", () => {
    const file = attach.files[0];
    attached.textContent = file ? file.name + " · " + bytesText(file.size) : "";
  });

  async function sendFile(file, caption) {
    status.className = "";
    status.textContent = "Uploading " + file.name + "…";
    const response = await fetch("/ajax/tata-conversations/" + encodeURIComponent(current) + "/files", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": csrf, "X-File-Name": encodeURIComponent(file.name) },
      body: file,
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 201) throw new Error(body.error || ("The file could not be uploaded (" + response.status + ")."));
    return queue({ phone: current, file_id: body.file_id, message: caption }, caption || file.name);
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = reply.value;
    const file = attach.files[0];
    if (!current || (!file && !text.trim())) return;
    const sent = file ? sendFile(file, text) : send(text);
    if (await sent.catch((e) => { showError(e); return false; })) {
      reply.value = "";
      attach.value = "";
      attached.textContent = "";
    }
  });
  // The template picker: the approved templates, a field per {{n}}
  // (prefilled with the lead's name and vehicle), and the body as the
  // customer will read it.
  async function loadTemplates() {
    const data = await getJSON("/ajax/whatsapp/templates");
    templates = data.templates;
    const first = el("option", null, templates.length ? "Choose a template" : "No approved templates yet");
    first.value = "";
    templateName.replaceChildren(first, ...templates.map((t, i) => {
      const option = el("option", null, t.name + " (" + t.language + ")");
      option.value = String(i);
      return option;
    }));
    document.getElementById("template-refresh").hidden = !data.can_refresh;
    document.getElementById("template-list-state").textContent = data.fetched_at_ist
      ? "Templates as Tata listed them on " + data.fetched_at_ist
      : "Tata's template list has not been fetched yet.";
    drawTemplate();
  }

  function chosenTemplate() {
    return templates && templateName.value !== "" ? templates[Number(templateName.value)] : null;
  }

  function templateValues() {
    return [...templateFields.querySelectorAll("input")].map((input) => input.value);
  }

  function previewTemplate() {
    const t = chosenTemplate();
    const values = templateValues();
    templatePreview.textContent = t
      ? (t.body || "").replace(/\{\{(\d+)\}\}/g, (field, n) => values[Number(n) - 1] || field)
      : "";
  }

  function drawTemplate() {
    const t = chosenTemplate();
    templateFields.replaceChildren();
    const lead = (lastThread && lastThread.lead) || {};
    const prefill = [lead.name, lead.vehicle];
    for (let i = 1; t && i <= t.parameters; i++) {
      const label = el("label", null, "{{" + i + "}} ");
      const input = el("input");
      input.type = "text";
      input.required = true;
      input.maxLength = 1024;
      input.value = prefill[i - 1] || "";
      input.addEventListener("input", previewTemplate);
      label.append(input);
      templateFields.append(label);
    }
    previewTemplate();
  }

  // A private note on the lead: shown in the thread, never sent.
  document.getElementById("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const lead = lastThread && lastThread.lead;
    if (!lead || !note.value.trim()) return;
    const response = await post("/ajax/leads/" + encodeURIComponent(lead.id) + "/notes", { text: note.value });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      showError(new Error(body.error || "Note not added (" + response.status + ")"));
      return;
    }
    note.value = "";
    status.className = "";
    status.textContent = "Note added; only staff see it.";
    refreshThread().catch(showError);
  });

  // Canned replies: "/" and a shortcut in the reply box offers the team's
  // answers; choosing one puts its text in, {name} and {vehicle} filled.
  function fillCanned(text) {
    const lead = (lastThread && lastThread.lead) || {};
    return text.replace(/\{name\}/g, lead.name || "{name}").replace(/\{vehicle\}/g, lead.vehicle || "{vehicle}");
  }

  function chooseCanned(item) {
    reply.value = fillCanned(item.text);
    cannedList.hidden = true;
    reply.focus();
  }

  async function suggestCanned() {
    const typed = /^\/([a-z0-9_-]*)$/i.exec(reply.value);
    if (!typed) {
      cannedList.hidden = true;
      return;
    }
    if (canned === null) canned = (await getJSON("/ajax/canned-replies")).replies;
    const prefix = typed[1].toLowerCase();
    const found = canned.filter((c) => c.shortcut.startsWith(prefix));
    cannedList.replaceChildren(...found.map((c) => {
      const item = el("li");
      const pick = el("button", "canned-pick");
      pick.type = "button";
      pick.append(el("strong", null, "/" + c.shortcut), " ", el("span", null, fillCanned(c.text)));
      pick.addEventListener("click", () => chooseCanned(c));
      item.append(pick);
      return item;
    }));
    cannedList.hidden = found.length === 0;
  }

  reply.addEventListener("input", () => suggestCanned().catch(showError));
  reply.addEventListener("keydown", (event) => {
    if (cannedList.hidden || (event.key !== "Enter" && event.key !== "Tab")) return;
    const first = cannedList.querySelector("button");
    if (first) {
      event.preventDefault();
      first.click();
    }
  });

  // The conversation's status: open, pending, resolved, or snoozed (until
  // the customer writes, for an hour, or until 10:00 tomorrow).
  document.getElementById("thread-status").addEventListener("change", async (event) => {
    if (!current) return;
    let status = event.target.value;
    let until = null;
    if (status === "snooze-1h") until = new Date(Date.now() + 3600 * 1000);
    if (status === "snooze-tomorrow") {
      until = new Date();
      until.setDate(until.getDate() + 1);
      until.setHours(10, 0, 0, 0);
    }
    if (until) status = "snoozed";
    const body = { status };
    if (until) body.snoozed_until = until.toISOString();
    const response = await post("/ajax/tata-conversations/" + encodeURIComponent(current) + "/status", body);
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) showError(new Error(answer.error || "Status not changed (" + response.status + ")"));
    refreshThread().catch(showError);
    refreshList().catch(showError);
  });
  document.getElementById("status-filter").addEventListener("change", () => refreshList().catch(showError));

  document.getElementById("quoting-cancel").addEventListener("click", () => setQuoting(null));

  templateName.addEventListener("change", drawTemplate);
  templateForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const t = chosenTemplate();
    if (!t || !current) return;
    const request = { phone: current, template: { name: t.name, language: t.language, parameters: templateValues() } };
    if (await queue(request, templatePreview.textContent).catch((e) => { showError(e); return false; })) {
      templateName.value = "";
      drawTemplate();
    }
  });
  document.getElementById("template-refresh").addEventListener("click", async () => {
    const response = await post("/ajax/whatsapp/templates/refresh");
    const body = await response.json().catch(() => ({}));
    if (response.status !== 202) {
      showError(new Error(body.error || "Not refreshed (" + response.status + ")"));
      return;
    }
    status.className = "";
    status.textContent = "A worker is fetching Tata's list…";
    setTimeout(() => loadTemplates().then(() => { status.textContent = ""; }).catch(showError), 3000);
  });

  document.getElementById("back").addEventListener("click", () => {
    current = null;
    chat.classList.remove("reading");
    thread.hidden = true;
    empty.hidden = false;
    history.replaceState(null, "", location.pathname);
  });
  search.addEventListener("input", () => refreshList().catch(showError));
  for (const button of document.querySelectorAll("#views button")) {
    button.addEventListener("click", () => {
      view = button.dataset.view;
      refreshList().catch(showError);
    });
  }

  if (current) open(current);
  refreshList().catch(showError);
  let redraw = null;
  function changed() {
    if (redraw) return;
    redraw = setTimeout(() => {
      redraw = null;
      refreshList().catch(() => {});
      refreshThread().catch(() => {});
    }, COALESCE_MS);
  }
  if (window.leadpipeLive) {
    for (const kind of ["message", "reply", "lead", "reset"]) window.leadpipeLive.on(kind, changed);
  }
})();
