// The demo's page: renders what Baton posted to the Slack stand-in, and tells the demo
// server what a person did, which sends it to Baton as Slack would. No rule of the
// agreement lives here.
"use strict";

const EMOJI = {
  alarm_clock: "⏰", bust_in_silhouette: "👤", calendar: "📆", handshake: "🤝",
  inbox_tray: "📥", rotating_light: "🚨", seedling: "🌱", tada: "🎉", trophy: "🏆",
  wastebasket: "🗑️", white_check_mark: "✅", x: "❌", warning: "⚠️", chart_with_upwards_trend: "📈",
};
let config = null;
let state = null;
let user = null;
let view = null; // {kind: "channel"|"dm"|"home", id}
let threadTs = null;
let poll = null;

const $ = (selector) => document.querySelector(selector);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
};
const names = () => Object.fromEntries(config.people.map((p) => [p.id, p.name]));

async function send(path, body) {
  const answer = await fetch(path, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!answer.ok) notice(`Baton answered ${answer.status}`);
  return answer;
}

function notice(text) {
  $("#notice").textContent = text;
}

// mrkdwn ------------------------------------------------------------------------------

function inline(text) {
  // Baton sends &, < and > as entities; anything else that would be markup is escaped here.
  let html = text.replace(/<(?![a-z!#@])/g, "&lt;");
  html = html.replace(/<([^<>]+)>/g, (_, inner) => {
    const [target, label] = inner.split("|");
    if (target.startsWith("@")) {
      return `<span class="mention">@${escape(names()[target.slice(1)] || target.slice(1))}</span>`;
    }
    if (target.startsWith("#")) return `<span class="mention">#${escape(channelName(target.slice(1)))}</span>`;
    if (target.startsWith("!")) return `<span class="mention">@${escape(target.slice(1))}</span>`;
    return `<a href="#" data-link="${escape(target)}">${label || escape(target)}</a>`;
  });
  html = html.replace(/`([^`\n]+)`/g, "<code>$1</code>");
  html = html.replace(/(^|[\s(>~_])\*([^*\n]+)\*/g, "$1<b>$2</b>");
  html = html.replace(/(^|[\s(>*~])_([^_\n]+)_/g, "$1<i>$2</i>");
  html = html.replace(/(^|[\s(>*_])~([^~\n]+)~/g, "$1<s>$2</s>");
  html = html.replace(/:([a-z0-9_+-]+):/g, (all, code) => EMOJI[code] || all);
  return html;
}

function escape(text) {
  return String(text).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function text(object) {
  if (!object) return el("span");
  if (object.type === "mrkdwn") return el("span", { className: "mrkdwn", innerHTML: inline(object.text) });
  return el("span", { className: "mrkdwn", textContent: object.text });
}

function channelName(id) {
  const channel = config.channels.find((c) => c.id === id);
  return channel ? channel.name : id;
}

// Block Kit ---------------------------------------------------------------------------

function option(o) {
  return el("option", { value: o.value, textContent: o.text.text });
}

function element(item, where, blockId) {
  const act = (action) => {
    send("/demo/act", { user, ...where, action: { block_id: blockId, action_id: item.action_id, ...action } });
  };
  switch (item.type) {
    case "button": {
      const button = el("button", { type: "button", className: `bk ${item.style || ""}` }, item.text.text);
      button.onclick = () => act({ type: "button", value: item.value, text: item.text, style: item.style });
      return button;
    }
    case "static_select":
    case "overflow": {
      const select = el("select", { className: "bk" });
      select.append(el("option", { value: "", textContent: item.type === "overflow" ? "⋯" : (item.placeholder || {}).text || "Choose…" }));
      const groups = item.option_groups ? item.option_groups.flatMap((g) => g.options) : item.options || [];
      groups.forEach((o) => select.append(option(o)));
      select.onchange = () => {
        const chosen = groups.find((o) => o.value === select.value);
        if (chosen) act({ type: item.type, selected_option: chosen });
      };
      return select;
    }
    case "users_select": {
      const select = el("select", { className: "bk" }, el("option", { value: "", textContent: "Choose a person…" }));
      config.people.forEach((p) => select.append(el("option", { value: p.id, textContent: p.name })));
      select.onchange = () => select.value && act({ type: "users_select", selected_user: select.value });
      return select;
    }
    case "datepicker": {
      const input = el("input", { type: "date", className: "bk", value: item.initial_date || "" });
      input.onchange = () => act({ type: "datepicker", selected_date: input.value });
      return input;
    }
    case "image":
      return el("img", { src: imageSource(item), alt: item.alt_text || "" });
    default:
      return text(item);
  }
}

function block(item, where) {
  const blockId = item.block_id || "";
  switch (item.type) {
    case "header":
      return el("div", { className: "block header" }, text(item.text));
    case "section": {
      const body = el("div");
      if (item.text) body.append(text(item.text));
      if (item.fields) body.append(el("div", { className: "fields" }, ...item.fields.map(text)));
      const node = el("div", { className: "block section" }, body);
      if (item.accessory) node.append(element(item.accessory, where, blockId));
      return node;
    }
    case "context":
      return el("div", { className: "block context" }, ...item.elements.map((e) => element(e, where, blockId)));
    case "actions":
      return el("div", { className: "block actions" }, ...item.elements.map((e) => element(e, where, blockId)));
    case "divider":
      return el("hr", { className: "block divider" });
    case "image":
      return el("div", { className: "block image" },
        item.title ? el("div", { className: "title" }, item.title.text) : "",
        el("img", { src: imageSource(item), alt: item.alt_text || "", title: item.alt_text || "" }));
    case "input":
      return input(item);
    default:
      return el("div", { className: "block" }, `(${item.type})`);
  }
}

// An image from a URL, or a file uploaded to Slack (a slack_file, or a shared upload's file):
// the page reads those from the stand-in.
function imageSource(item) {
  if (item.image_url) return item.image_url;
  return item.slack_file && item.slack_file.id ? fileSource(item.slack_file.id) : "";
}

function fileSource(id) {
  return `/demo/files/${encodeURIComponent(id)}`;
}

function files(list) {
  return el("div", {}, ...list.map((f) => el("div", { className: "block image" },
    el("div", { className: "title" }, f.title || f.name), el("img", { src: fileSource(f.id), alt: f.title || f.name }))));
}

function blocks(list, where) {
  return el("div", {}, ...(list || []).map((b) => block(b, where)));
}

// Modals: inputs, read back in Slack's state.values shape -----------------------------

function input(item) {
  const e = item.element;
  const label = el("label", {}, item.label.text, item.optional ? el("span", { className: "hint" }, " (optional)") : "");
  let field;
  if (e.type === "plain_text_input") {
    field = el(e.multiline ? "textarea" : "input", { value: e.initial_value || "" });
    if (e.placeholder) field.placeholder = e.placeholder.text;
  } else if (e.type === "number_input") {
    field = el("input", { type: "number", value: e.initial_value || "", step: e.is_decimal_allowed ? "any" : "1" });
  } else if (e.type === "datepicker") {
    field = el("input", { type: "date", value: e.initial_date || "" });
  } else if (e.type === "static_select" || e.type === "multi_static_select" || e.type === "users_select") {
    field = el("select", { multiple: e.type === "multi_static_select" });
    if (e.type !== "multi_static_select") field.append(el("option", { value: "", textContent: "Choose…" }));
    const options = e.type === "users_select"
      ? config.people.map((p) => ({ value: p.id, text: { type: "plain_text", text: p.name } }))
      : e.options || [];
    options.forEach((o) => field.append(option(o)));
    const initial = e.initial_option ? [e.initial_option.value] : (e.initial_options || []).map((o) => o.value);
    if (e.initial_user) initial.push(e.initial_user);
    for (const o of field.options) o.selected = initial.includes(o.value);
  } else if (e.type === "radio_buttons") {
    field = el("div");
    (e.options || []).forEach((o) => {
      const radio = el("input", { type: "radio", name: item.block_id, value: o.value });
      radio.checked = e.initial_option && e.initial_option.value === o.value;
      field.append(el("label", { className: "radio" }, radio, o.text.text));
    });
  } else {
    field = el("span", {}, `(${e.type})`);
  }
  field.dataset.block = item.block_id;
  field.dataset.action = e.action_id;
  field.dataset.type = e.type;
  field.dataset.options = JSON.stringify(e.options || []);
  const box = el("div", { className: "block input" }, label, field);
  if (item.hint) box.append(el("div", { className: "hint" }, item.hint.text));
  const error = el("div", { className: "error" });
  error.dataset.errorFor = item.block_id;
  box.append(error);
  return box;
}

function values(form) {
  const found = {};
  for (const field of form.querySelectorAll("[data-type]")) {
    const { block, action, type } = field.dataset;
    const options = JSON.parse(field.dataset.options);
    const pick = (value) => options.find((o) => o.value === value) || null;
    let value;
    if (type === "plain_text_input" || type === "number_input") value = { value: field.value || null };
    else if (type === "datepicker") value = { selected_date: field.value || null };
    else if (type === "static_select") value = { selected_option: pick(field.value) };
    else if (type === "users_select") value = { selected_user: field.value || null };
    else if (type === "multi_static_select") {
      value = { selected_options: [...field.selectedOptions].map((o) => pick(o.value)) };
    } else if (type === "radio_buttons") {
      const checked = field.querySelector("input:checked");
      value = { selected_option: checked ? pick(checked.value) : null };
    } else continue;
    found[block] = { [action]: { type, ...value } };
  }
  return found;
}

function showModal(modal) {
  const box = $("#modal");
  if (!modal) {
    box.hidden = true;
    box.dataset.viewId = "";
    return;
  }
  if (box.dataset.viewId === modal.id && box.dataset.hash === modal.hash) return; // keep what is typed
  box.dataset.viewId = modal.id;
  box.dataset.hash = modal.hash;
  const form = el("form", { className: "dialog", noValidate: true },
    el("h3", {}, modal.title.text), blocks(modal.blocks, { view_id: modal.id }));
  const close = el("button", { type: "button" }, (modal.close || { text: "Cancel" }).text);
  const buttons = el("div", { className: "buttons" }, close);
  if (modal.submit) buttons.append(el("button", { type: "submit", className: "primary" }, modal.submit.text));
  form.append(buttons);
  close.onclick = () => send("/demo/close", { user, view_id: modal.id });
  form.onsubmit = async (event) => {
    event.preventDefault();
    form.querySelectorAll(".error").forEach((e) => { e.textContent = ""; });
    const answer = await send("/demo/submit", { user, view_id: modal.id, values: values(form) });
    const reply = await answer.json();
    for (const [blockId, message] of Object.entries(reply.errors || {})) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(blockId)}"]`);
      if (slot) slot.textContent = message;
    }
  };
  box.replaceChildren(form);
  box.hidden = false;
}

// Conversations -----------------------------------------------------------------------

function time(ts) {
  return new Date(parseFloat(ts) * 1000).toLocaleString("en-GB", {
    timeZone: config.timezone, weekday: "short", hour: "2-digit", minute: "2-digit",
  });
}

function message(m, channel, { ephemeral = false, inThread = false } = {}) {
  const where = { channel, ts: m.ts, ephemeral };
  const head = el("div", {}, el("span", { className: "who" }, "Baton", el("span", { className: "app" }, "APP")),
    el("span", { className: "at" }, time(m.ts)));
  const node = el("div", { className: `message${ephemeral ? " ephemeral" : ""}` }, head);
  node.dataset.ts = m.ts;
  node.append(m.blocks ? blocks(m.blocks, where) : el("div", { className: "mrkdwn", innerHTML: inline(m.text || "") }));
  if (m.files) node.append(files(m.files));
  if (ephemeral) node.append(el("div", { className: "only-you" }, "Only visible to you"));
  if (!inThread && m.replies && m.replies.length) {
    const link = el("button", { type: "button", className: "replies" },
      `${m.replies.length} ${m.replies.length === 1 ? "reply" : "replies"}`);
    link.onclick = () => { threadTs = m.ts; render(); };
    node.append(link);
  }
  return node;
}

function currentChannel() {
  if (view.kind === "dm") return config.dms[user];
  return view.id;
}

function render() {
  if (!state) return;
  $("#clock").textContent = `${new Date(state.now).toLocaleString("en-GB", {
    timeZone: config.timezone, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  })} · ${config.speed}× speed`;
  document.querySelectorAll("#sidebar a").forEach((a) => a.classList.remove("active"));
  const list = $("#messages");
  const keep = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  if (view.kind === "home") {
    $("#nav-home").classList.add("active");
    $("#title").textContent = "Baton · Home";
    list.replaceChildren(state.home ? el("div", { className: "home" }, blocks(state.home.blocks, { view_id: state.home.id }))
      : el("div", { className: "empty" }, "Opening App Home…"));
    $("#composer-form").hidden = true;
  } else {
    const channel = currentChannel();
    (view.kind === "dm" ? $("#nav-dm") : document.querySelector(`[data-channel="${channel}"]`)).classList.add("active");
    $("#title").textContent = view.kind === "dm" ? "Baton (direct messages)" : `# ${channelName(channel)}`;
    const items = (state.conversations[channel] || []).map((m) => ({ m, ephemeral: false }));
    state.ephemeral.filter((m) => m.channel === channel).forEach((m) => items.push({ m, ephemeral: true }));
    items.sort((a, b) => parseFloat(a.m.ts) - parseFloat(b.m.ts));
    list.replaceChildren(...(items.length ? items.map(({ m, ephemeral }) => message(m, channel, { ephemeral }))
      : [el("div", { className: "empty" }, "Nothing here yet. Hand over a lead above.")]));
    $("#composer-form").hidden = false;
    $("#composer").placeholder = `Message ${view.kind === "dm" ? "Baton" : "#" + channelName(channel)}: try /baton stats`;
  }
  if (keep) list.scrollTop = list.scrollHeight;
  const thread = $("#thread");
  const parent = threadTs && view.kind !== "home" && (state.conversations[currentChannel()] || []).find((m) => m.ts === threadTs);
  thread.hidden = !parent;
  if (parent) {
    $("#thread-messages").replaceChildren(message(parent, currentChannel(), { inThread: true }),
      ...parent.replies.map((r) => message(r, currentChannel(), { inThread: true })));
  }
  showModal(state.modal);
}

async function follow() {
  const mine = new AbortController();
  if (poll) poll.abort();
  poll = mine;
  let version = -1;
  while (!mine.signal.aborted) {
    try {
      const answer = await fetch(`/demo/state?user=${encodeURIComponent(user)}&after=${version}`, { signal: mine.signal });
      state = await answer.json();
      version = state.version;
      render();
    } catch (error) {
      if (mine.signal.aborted) return;
      console.error(error);
      notice("Lost the demo server; retrying…");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

function go(next) {
  view = next;
  threadTs = null;
  if (view.kind === "home") send("/demo/home", { user });
  render();
}

// Hand-over form: the API's answer, as it came --------------------------------------

function leadBody(form) {
  const body = {};
  for (const field of form.elements) {
    if (!field.name || field.value.trim() === "") continue;
    const number = ["employees", "revenue"].includes(field.name) && /^-?\d+(\.\d+)?$/.test(field.value.trim());
    body[field.name] = number ? Number(field.value) : field.value;
  }
  return body;
}

async function handOver(event) {
  event.preventDefault();
  const form = $("#handover-form");
  const result = $("#handover-result");
  form.querySelectorAll(".field-error").forEach((e) => e.remove());
  const answer = await fetch("/demo/leads", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(leadBody(form)),
  });
  const reply = await answer.json();
  if (answer.status === 201 || answer.status === 200) {
    result.className = "ok";
    result.textContent = answer.status === 200 ? `${answer.status}: already known (lead ${reply.id}); nothing posted twice.`
      : reply.qualified ? `${answer.status}: qualified; its card goes to #sales.`
        : `${answer.status}: not qualified: ${reply.reasons.join("; ")}. Back to Marketing.`;
    return;
  }
  result.className = "bad";
  const detail = Array.isArray(reply.detail) ? reply.detail : [{ loc: [], msg: reply.detail }];
  result.textContent = `${answer.status}: ${detail.length} problem(s)`;
  for (const problem of detail) {
    const name = problem.loc[1];
    const field = name && form.elements[name];
    const line = el("div", { className: "field-error" }, `${problem.loc.slice(1).join(".") || "body"}: ${problem.msg}`);
    if (field) field.after(line); else result.append(line);
  }
}

// A permalink to a message opens its conversation there, as Slack does.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link) return;
  event.preventDefault();
  const found = /\/archives\/([A-Z0-9]+)\/p(\d{10})(\d{6})/.exec(link.dataset.link);
  if (!found) return;
  const [, channel, seconds, micros] = found;
  go(config.channels.some((c) => c.id === channel) ? { kind: "channel", id: channel } : { kind: "dm" });
  const shown = document.querySelector(`#messages .message[data-ts="${seconds}.${micros}"]`);
  if (shown) {
    shown.scrollIntoView({ block: "center" });
    shown.classList.add("linked");
  }
});

async function start() {
  config = await (await fetch("/demo/config")).json();
  const persona = $("#persona");
  config.people.forEach((p) => persona.append(el("option", { value: p.id, textContent: `${p.name} (${p.role})` })));
  const marketer = config.people.find((p) => p.role === "marketing");
  user = marketer.id;
  persona.value = user;
  persona.onchange = () => {
    user = persona.value;
    if (view.kind === "home") send("/demo/home", { user });
    state = null;
    follow();
  };
  config.channels.forEach((c) => {
    const link = el("a", { href: "#", textContent: `# ${c.name}` });
    link.dataset.channel = c.id;
    link.onclick = (event) => { event.preventDefault(); go({ kind: "channel", id: c.id }); };
    $("#channels").append(el("li", {}, link));
  });
  $("#nav-dm").onclick = (event) => { event.preventDefault(); go({ kind: "dm" }); };
  $("#nav-home").onclick = (event) => { event.preventDefault(); go({ kind: "home" }); };
  $("#thread-close").onclick = () => { threadTs = null; render(); };
  $("#handover-open").onclick = () => { $("#handover").hidden = false; };
  $("#handover-cancel").onclick = () => { $("#handover").hidden = true; };
  $("#handover-form").onsubmit = handOver;
  $("#samples").onclick = async () => {
    notice("Handing over 20 sample leads…");
    const tally = await (await fetch("/demo/samples", { method: "POST" })).json();
    notice(Object.entries(tally).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`).join(", "));
  };
  $("#composer-form").onsubmit = (event) => {
    event.preventDefault();
    const line = $("#composer").value.trim();
    $("#composer").value = "";
    const [command, ...rest] = line.split(/\s+/);
    if (command !== "/baton") {
      notice("The demo understands /baton commands: /baton help, stats, open, mine, agreement, lead");
      return;
    }
    send("/demo/command", { user, channel: currentChannel(), text: rest.join(" ") });
  };
  view = { kind: "channel", id: config.channels[0].id };
  follow();
}

start();
