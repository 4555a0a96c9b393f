// web/static/agent/chats.js: /agent/chats, the agents' live chats. A plain ES module, no build
// step; no inline script or style (the pages' CSP). The page is a shell from the theme
// (web/templates/chats.mustache); this module fills it from the agents' channel and, for the
// article search, from the console's JSON API (api.js).
//
// It opens the agents' channel (data-agent-url: ws://HOST:CHAT_PORT/agent, subprotocol
// kb-agent; the browser sends the help centre's kb_session cookie and the page's Origin, the
// server checks both) and draws what the server says (the protocol is documented at the top
// of kb/chat/frames.c and in the README):
//   hello         the agent the session belongs to, and the conversations he holds (after a
//                 reconnection, panels of the others go)
//   queue         the conversations waiting for a person: each with its language, page,
//                 waiting time (counted on here between two frames) and last customer
//                 messages, and a button to take it; new ones appear, taken ones vanish
//   conversation  one this agent holds: its transcript (a log region), a box to answer, an
//                 article search (GET /api/v1/search with the session: internal articles are
//                 listed and marked, and cannot be sent; the server refuses them anyway), a
//                 case form, leave (back to the bot), end
//   message       a new message of a held conversation (his own come back with their id: the
//                 echo replaces the "sending" line)
//   released      he holds it no more (left, ended, gone): the panel goes, the status says why
//   case          a case he opened: its reference in the status
//   error         about an action (taken, not_public ...): said next to the conversation
// Everything from the server and from customers is set as text, never as HTML. The wording is
// the theme's (data-strings: the chats_js_* keys of web/i18n/LANG.json). A lost connection is
// opened again with backoff (1 s doubling to 30 s); a close 4401 (the session ended) stops and
// offers to sign in again.
import { makeApi } from './api.js';

const root = document.getElementById('kb-chats');
const $ = (id) => document.getElementById(id);
const agentUrl = root.getAttribute('data-agent-url') || '';
const pageLang = root.getAttribute('data-lang') || 'fr';
const api = makeApi('');
let S = {};
try { S = JSON.parse(root.getAttribute('data-strings') || '{}') || {}; } catch { S = {}; }

/** A string of the theme with {name} placeholders filled. */
function t(key, vars = {}) {
  let s = typeof S[key] === 'string' ? S[key] : key;
  for (const [k, v] of Object.entries(vars)) s = s.split('{' + k + '}').join(String(v));
  return s;
}

const status = $('chats-status');
const announce = $('chats-announce');
const queueEl = $('queue');
const queueCount = $('queue-count');
const queueEmpty = $('queue-empty');
const mineEl = $('mine');
const mineEmpty = $('mine-empty');
const tplWaiting = $('tpl-waiting');
const tplConv = $('tpl-conversation');

let ws = null;
let attempt = 0;
let retryTimer = null;
let stopped = false;
let me = null;
let firstQueue = true;
let uid = 0;
const waiting = new Map(); // conversation id -> {node, waited, at}
const held = new Map();    // conversation id -> {node, log, seqs, pending, error, lang}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function say(text, kind) {
  status.textContent = text || '';
  status.className = 'chats-status' + (kind ? ' chats-status--' + kind : '');
}

const langName = (l) => S['lang_' + l] || l || '';

function duration(secs) {
  secs = Math.max(0, Math.floor(secs));
  const m = Math.floor(secs / 60), s = secs % 60;
  return m ? t('minutes', { m, s }) : t('seconds', { s });
}

function send(frame) {
  if (!ws || ws.readyState !== WebSocket.OPEN) {
    say(t('offline'), 'warn');
    return false;
  }
  ws.send(JSON.stringify(frame));
  return true;
}

// ---- the queue --------------------------------------------------------------------------

function drawWaited(w) {
  const secs = w.waited + (Date.now() - w.at) / 1000;
  w.node.querySelector('.queue-waited').textContent = t('waited', { time: duration(secs) });
}

function onQueue(list) {
  const seen = new Set();
  let fresh = 0;
  for (const c of list) {
    if (!c || typeof c.conversation !== 'string') continue;
    seen.add(c.conversation);
    let w = waiting.get(c.conversation);
    if (!w) {
      const node = tplWaiting.content.firstElementChild.cloneNode(true);
      w = { node };
      waiting.set(c.conversation, w);
      const take = node.querySelector('.take');
      take.addEventListener('click', () => {
        take.disabled = true;
        if (!send({ type: 'take', conversation: c.conversation })) take.disabled = false;
      });
      fresh++;
    }
    w.waited = Number(c.waited) || 0;
    w.at = Date.now();
    w.node.setAttribute('data-conversation', c.conversation);
    w.node.querySelector('.queue-lang').textContent = langName(c.lang);
    w.node.querySelector('.queue-page').textContent = c.page || t('no_page');
    const msgs = w.node.querySelector('.queue-messages');
    msgs.textContent = '';
    for (const m of Array.isArray(c.messages) ? c.messages : []) msgs.appendChild(el('li', null, m && m.text));
    drawWaited(w);
    queueEl.appendChild(w.node); // in the server's order: oldest first
  }
  for (const [id, w] of waiting) {
    if (!seen.has(id)) {
      w.node.remove();
      waiting.delete(id);
    }
  }
  queueCount.textContent = String(waiting.size);
  queueEmpty.hidden = waiting.size > 0;
  if (fresh && !firstQueue) announce.textContent = t('new_waiting');
  firstQueue = false;
}

setInterval(() => waiting.forEach(drawWaited), 1000);

// ---- held conversations -----------------------------------------------------------------

function who(m) {
  if (m.from === 'agent') return me && m.name === me.name ? t('you') : (m.name || t('you'));
  return t({ customer: 'customer', bot: 'bot' }[m.from] || 'system');
}

function line(m) {
  const from = ['customer', 'bot', 'agent'].includes(m.from) ? m.from : 'system';
  const li = el('li', 'msg from-' + from);
  li.appendChild(el('span', 'who', who(m) + t('colon')));
  li.appendChild(el('span', 'text', m.text));
  const arts = Array.isArray(m.articles) ? m.articles : [];
  if (arts.length) {
    const ul = el('ul', 'cards');
    ul.setAttribute('aria-label', t('cards'));
    for (const a of arts) {
      if (!a || typeof a.title !== 'string') continue;
      const item = el('li');
      const link = el('a', null, a.title);
      if (typeof a.url === 'string' && /^\/a\//.test(a.url)) link.href = a.url;
      item.appendChild(link);
      ul.appendChild(item);
    }
    li.appendChild(ul);
  }
  return li;
}

function scrollDown(h) { h.box.scrollTop = h.box.scrollHeight; }

function addMessage(h, m) {
  if (!h || !m || typeof m.seq !== 'number' || h.seqs.has(m.seq)) return;
  h.seqs.add(m.seq);
  const li = line(m);
  const pending = typeof m.id === 'string' ? h.pending.get(m.id) : null;
  if (pending) {
    pending.replaceWith(li);
    h.pending.delete(m.id);
  } else {
    h.log.appendChild(li);
  }
  scrollDown(h);
}

function showError(h, text) {
  if (!h) {
    say(text, 'error');
    return;
  }
  h.error.textContent = text;
  h.error.hidden = !text;
}

function sendMessage(id, h, text, slugs) {
  const mid = 'a-' + Date.now().toString(36) + '-' + (++uid);
  const frame = { type: 'message', conversation: id, id: mid, text };
  if (slugs) frame.articles = slugs;
  if (!send(frame)) return false;
  const li = el('li', 'msg from-agent pending');
  li.appendChild(el('span', 'who', t('you') + t('colon')));
  li.appendChild(el('span', 'text', text));
  li.appendChild(el('span', 'meta', ' (' + t('sending') + ')'));
  h.pending.set(mid, li);
  h.log.appendChild(li);
  scrollDown(h);
  showError(h, '');
  return true;
}

/** The console's search (the agent's scope: internal articles listed, marked, not sendable). */
async function search(h, id, q) {
  const results = h.node.querySelector('.held-results');
  let list = [];
  try {
    const body = await api.search({ q, lang: h.lang, limit: 5 });
    list = body && Array.isArray(body.results) ? body.results : [];
  } catch {
    list = [];
  }
  results.textContent = '';
  if (!list.length) results.appendChild(el('li', 'muted', t('no_results')));
  for (const r of list) {
    if (!r || typeof r.slug !== 'string' || typeof r.title !== 'string') continue;
    const li = el('li', 'result');
    const link = el('a', null, r.title);
    link.href = '/a/' + encodeURIComponent(r.slug);
    link.target = '_blank';
    link.rel = 'noopener';
    li.appendChild(link);
    const internal = r.audience === 'internal';
    if (internal) li.appendChild(el('span', 'badge-internal', t('internal')));
    const b = el('button', 'send-card', t('send_card'));
    b.type = 'button';
    if (internal) {
      b.disabled = true;
      b.title = t('internal_note');
    }
    b.addEventListener('click', () => sendMessage(id, h, r.title, [r.slug]));
    li.appendChild(document.createTextNode(' '));
    li.appendChild(b);
    results.appendChild(li);
  }
}

function panel(id) {
  const node = tplConv.content.firstElementChild.cloneNode(true);
  const n = ++uid;
  node.setAttribute('data-conversation', id);
  node.id = 'held-' + n;
  node.setAttribute('aria-labelledby', 'held-title-' + n);
  node.querySelector('.held-title').id = 'held-title-' + n;
  for (const [label, input, name] of [['.held-label', '.held-text', 'text'],
    ['.held-search-label', '.held-q', 'q'], ['.held-subject-label', '.held-subject', 'subject']]) {
    const field = node.querySelector(input);
    field.id = 'held-' + name + '-' + n;
    node.querySelector(label).htmlFor = field.id;
  }
  const error = el('p', 'error held-error');
  error.setAttribute('role', 'alert');
  error.hidden = true;
  node.insertBefore(error, node.querySelector('.held-send'));
  const h = { node, box: node.querySelector('.held-log'), log: node.querySelector('.held-lines'),
    seqs: new Set(), pending: new Map(), error, lang: 'fr' };
  const text = node.querySelector('.held-text');
  const sendForm = node.querySelector('.held-send');
  sendForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = text.value.trim();
    if (v && sendMessage(id, h, v)) text.value = '';
  });
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      sendForm.requestSubmit();
    }
  });
  node.querySelector('.held-search').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = node.querySelector('.held-q').value.trim();
    if (q) search(h, id, q);
  });
  node.querySelector('.held-case').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const subject = node.querySelector('.held-subject');
    const v = subject.value.trim();
    if (v && send({ type: 'case', conversation: id, subject: v })) subject.value = '';
  });
  node.querySelector('.leave').addEventListener('click', () => send({ type: 'leave', conversation: id }));
  node.querySelector('.end').addEventListener('click', () => send({ type: 'end', conversation: id }));
  mineEl.appendChild(node);
  return h;
}

function onConversation(f) {
  const id = f.conversation;
  if (typeof id !== 'string') return;
  const w = waiting.get(id);
  if (w) {
    w.node.remove();
    waiting.delete(id);
    queueCount.textContent = String(waiting.size);
    queueEmpty.hidden = waiting.size > 0;
  }
  let h = held.get(id);
  if (!h) {
    h = panel(id);
    held.set(id, h);
  }
  h.lang = typeof f.lang === 'string' ? f.lang : 'fr';
  h.node.querySelector('.held-title').textContent = t('title');
  h.node.querySelector('.held-lang').textContent = langName(f.lang);
  h.node.querySelector('.held-page').textContent = f.page || t('no_page');
  for (const m of Array.isArray(f.messages) ? f.messages : []) addMessage(h, m);
  mineEmpty.hidden = held.size > 0;
}

function onReleased(f) {
  const h = held.get(f.conversation);
  if (!h) return;
  h.node.remove();
  held.delete(f.conversation);
  mineEmpty.hidden = held.size > 0;
  say(t('released_' + (['left', 'ended', 'gone'].includes(f.reason) ? f.reason : 'ended')));
}

function onError(f) {
  const h = typeof f.conversation === 'string' ? held.get(f.conversation) : null;
  if (h && typeof f.id === 'string' && h.pending.has(f.id)) {
    h.pending.get(f.id).remove();
    h.pending.delete(f.id);
  }
  let text;
  switch (f.code) {
  case 'taken': text = t('taken', { name: typeof f.name === 'string' ? f.name : '' }); break;
  case 'unknown_conversation': text = t('gone'); break;
  case 'not_public': text = t('not_public'); break;
  case 'unknown_article': text = t('unknown_article'); break;
  case 'unauthenticated': return; // the close that follows says it
  default: text = t('error');
  }
  const w = typeof f.conversation === 'string' ? waiting.get(f.conversation) : null;
  if (w) w.node.querySelector('.take').disabled = false;
  showError(h, text);
}

function onFrame(data) {
  let f;
  try { f = JSON.parse(data); } catch { return; }
  if (!f || typeof f !== 'object') return;
  switch (f.type) {
  case 'hello': {
    me = f.agent || null;
    attempt = 0;
    say(t('connected'), 'ok');
    // After a reconnection: what he holds no more (released while the page was away) goes.
    const holding = new Set(Array.isArray(f.holding) ? f.holding : []);
    for (const id of [...held.keys()]) if (!holding.has(id)) onReleased({ conversation: id, reason: 'gone' });
    break;
  }
  case 'queue': onQueue(Array.isArray(f.conversations) ? f.conversations : []); break;
  case 'conversation': onConversation(f); break;
  case 'message': addMessage(held.get(f.conversation), f); break;
  case 'released': onReleased(f); break;
  case 'case': say(t('case_opened', { ref: typeof f.ref === 'string' ? f.ref : '' }), 'ok'); break;
  case 'error': onError(f); break;
  default: break;
  }
}

// ---- the connection ---------------------------------------------------------------------

function later() {
  if (stopped || retryTimer) return;
  const d = Math.min(30000, 1000 * 2 ** attempt++);
  retryTimer = setTimeout(connect, d / 2 + Math.random() * d / 2);
}

function connect() {
  retryTimer = null;
  if (stopped || ws) return;
  say(t('connecting'));
  let sock;
  try {
    sock = new WebSocket(agentUrl, 'kb-agent');
  } catch {
    later();
    return;
  }
  ws = sock;
  sock.addEventListener('message', (ev) => { if (ws === sock) onFrame(ev.data); });
  sock.addEventListener('close', (ev) => {
    if (ws !== sock) return;
    ws = null;
    if (ev.code === 4401) {
      stopped = true;
      say(t('unauthenticated'), 'error');
      const a = el('a', null, t('signin'));
      a.href = '/login?next=' + encodeURIComponent('/agent/chats?lang=' + pageLang);
      status.appendChild(document.createTextNode(' '));
      status.appendChild(a);
      return;
    }
    say(t('offline'), 'warn');
    later();
  });
}

queueEmpty.hidden = false;
mineEmpty.hidden = false;
connect();
window.addEventListener('online', () => {
  if (!ws && !stopped) {
    attempt = 0;
    connect();
  }
});
