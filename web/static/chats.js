/* chats.js: /agent/chats, the agents' live chats. Plain JavaScript, no build step, no
 * dependency; no inline script or style (the pages' CSP).
 *
 * It opens the agents' channel (data-agent-url: ws://HOST:CHAT_PORT/agent, subprotocol
 * kb-agent; the browser sends the help centre's kb_session cookie, the server checks it and
 * the page's Origin) and draws what the server says (the protocol is documented at the top of
 * kb/chat/frames.c):
 *   queue         the conversations waiting for a person: each with its language, page,
 *                 waiting time (counted here between two frames) and last customer messages,
 *                 and a button to take it; new ones appear, taken ones vanish
 *   conversation  one this agent holds: its transcript (a live region), a box to answer, an
 *                 article search (GET /api/v1/search with the session: internal articles are
 *                 shown and marked; the server refuses to send them), a case form, leave, end
 *   message       a new message of a held conversation (his own come back with their id: the
 *                 echo replaces the "sending" line)
 *   released      he holds it no more (left, ended, gone): the panel goes, the status says why
 * Everything from the server and from customers is inserted with textContent, never as HTML.
 * The wording is the theme's (data-strings: the chats_js_* keys of web/i18n/LANG.json).
 * A lost connection is opened again with backoff (1 s doubling to 30 s); a close 4401 (the
 * session ended) stops and offers to sign in again. */
(function () {
  'use strict';

  var root = document.getElementById('kb-chats');
  if (!root || !window.WebSocket || !window.JSON) return;
  var agentUrl = root.getAttribute('data-agent-url') || '';
  var pageLang = root.getAttribute('data-lang') || 'fr';
  var S = {};
  try { S = JSON.parse(root.getAttribute('data-strings') || '{}') || {}; } catch (e) { S = {}; }

  /* A string of the theme with {name} placeholders filled. */
  function t(key, vars) {
    var s = typeof S[key] === 'string' ? S[key] : key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split('{' + k + '}').join(String(vars[k])); });
    return s;
  }

  var status = document.getElementById('chats-status');
  var announce = document.getElementById('chats-announce');
  var queueEl = document.getElementById('queue');
  var queueCount = document.getElementById('queue-count');
  var queueEmpty = document.getElementById('queue-empty');
  var mineEl = document.getElementById('mine');
  var mineEmpty = document.getElementById('mine-empty');
  var tplWaiting = document.getElementById('tpl-waiting');
  var tplConv = document.getElementById('tpl-conversation');

  var ws = null, attempt = 0, retryTimer = null, stopped = false, me = null, firstQueue = true;
  var waiting = new Map();   /* conversation id -> {node, waited, at} */
  var held = new Map();      /* conversation id -> {node, log, seqs, pending, error, lang} */
  var uid = 0;

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function say(text, kind) {
    status.textContent = '';
    status.className = 'chats-status' + (kind ? ' chats-status--' + kind : '');
    if (text) status.appendChild(document.createTextNode(text));
  }

  function langName(l) { return S['lang_' + l] || l || ''; }

  function duration(secs) {
    secs = Math.max(0, Math.floor(secs));
    var m = Math.floor(secs / 60), s = secs % 60;
    return m ? t('minutes', { m: m, s: s }) : t('seconds', { s: s });
  }

  function send(frame) {
    if (!ws || ws.readyState !== 1) {
      say(t('offline'), 'warn');
      return false;
    }
    ws.send(JSON.stringify(frame));
    return true;
  }

  /* ---- the queue ----------------------------------------------------------------------- */

  function drawWaited(w) {
    var secs = w.waited + (Date.now() - w.at) / 1000;
    w.node.querySelector('.queue-waited').textContent = t('waited', { time: duration(secs) });
  }

  function onQueue(list) {
    var seen = new Set(), fresh = 0;
    list.forEach(function (c) {
      if (!c || typeof c.conversation !== 'string') return;
      seen.add(c.conversation);
      var w = waiting.get(c.conversation);
      if (!w) {
        var node = tplWaiting.content.firstElementChild.cloneNode(true);
        w = { node: node };
        waiting.set(c.conversation, w);
        node.querySelector('.take').addEventListener('click', function (ev) {
          ev.currentTarget.disabled = true;
          if (!send({ type: 'take', conversation: c.conversation })) ev.currentTarget.disabled = false;
        });
        fresh++;
      }
      w.waited = +c.waited || 0;
      w.at = Date.now();
      w.node.setAttribute('data-conversation', c.conversation);
      w.node.querySelector('.queue-lang').textContent = langName(c.lang);
      w.node.querySelector('.queue-page').textContent = c.page || t('no_page');
      var msgs = w.node.querySelector('.queue-messages');
      msgs.textContent = '';
      (Array.isArray(c.messages) ? c.messages : []).forEach(function (m) {
        msgs.appendChild(el('li', null, m && m.text));
      });
      drawWaited(w);
      queueEl.appendChild(w.node); /* in the server's order: oldest first */
    });
    waiting.forEach(function (w, id) {
      if (!seen.has(id)) {
        w.node.remove();
        waiting.delete(id);
      }
    });
    queueCount.textContent = String(waiting.size);
    queueEmpty.hidden = waiting.size > 0;
    if (fresh && !firstQueue) announce.textContent = t('new_waiting');
    firstQueue = false;
  }

  setInterval(function () { waiting.forEach(drawWaited); }, 1000);

  /* ---- held conversations ------------------------------------------------------------- */

  function who(m) {
    if (m.from === 'agent') return me && m.name === me.name ? t('you') : (m.name || t('you'));
    return t({ customer: 'customer', bot: 'bot' }[m.from] || 'system');
  }

  function line(m) {
    var li = el('li', 'msg from-' + ({ customer: 1, bot: 1, agent: 1 }[m.from] ? m.from : 'system'));
    li.appendChild(el('span', 'who', who(m) + t('colon')));
    li.appendChild(el('span', 'text', m.text));
    var arts = Array.isArray(m.articles) ? m.articles : [];
    if (arts.length) {
      var ul = el('ul', 'cards');
      ul.setAttribute('aria-label', t('cards'));
      arts.forEach(function (a) {
        if (!a || typeof a.title !== 'string') return;
        var item = el('li');
        var link = el('a', null, a.title);
        if (typeof a.url === 'string' && /^\/a\//.test(a.url)) link.href = a.url;
        item.appendChild(link);
        ul.appendChild(item);
      });
      li.appendChild(ul);
    }
    return li;
  }

  function addMessage(h, m) {
    if (!h || !m || typeof m.seq !== 'number' || h.seqs.has(m.seq)) return;
    h.seqs.add(m.seq);
    var li = line(m);
    var pending = typeof m.id === 'string' ? h.pending.get(m.id) : null;
    if (pending) {
      pending.replaceWith(li);
      h.pending.delete(m.id);
    } else {
      h.log.appendChild(li);
    }
    h.log.scrollTop = h.log.scrollHeight;
  }

  function showError(h, text) {
    if (h) {
      h.error.textContent = text;
      h.error.hidden = !text;
    } else {
      say(text, 'error');
    }
  }

  function sendMessage(id, h, text, slugs) {
    var mid = 'a-' + Date.now().toString(36) + '-' + (++uid);
    var frame = { type: 'message', conversation: id, id: mid, text: text };
    if (slugs) frame.articles = slugs;
    if (!send(frame)) return false;
    var li = el('li', 'msg from-agent pending');
    li.appendChild(el('span', 'who', t('you') + t('colon')));
    li.appendChild(el('span', 'text', text));
    li.appendChild(el('span', 'meta', ' (' + t('sending') + ')'));
    h.pending.set(mid, li);
    h.log.appendChild(li);
    h.log.scrollTop = h.log.scrollHeight;
    showError(h, '');
    return true;
  }

  function search(h, id, q) {
    var results = h.node.querySelector('.held-results');
    var url = '/api/v1/search?limit=5&lang=' + encodeURIComponent(h.lang) + '&q=' + encodeURIComponent(q);
    fetch(url, { credentials: 'same-origin', headers: { accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : { results: [] }; })
      .catch(function () { return { results: [] }; })
      .then(function (body) {
        results.textContent = '';
        var list = body && Array.isArray(body.results) ? body.results : [];
        if (!list.length) results.appendChild(el('li', 'muted', t('no_results')));
        list.forEach(function (r) {
          if (!r || typeof r.slug !== 'string' || typeof r.title !== 'string') return;
          var li = el('li', 'result');
          var link = el('a', null, r.title);
          link.href = '/a/' + encodeURIComponent(r.slug);
          link.target = '_blank';
          link.rel = 'noopener';
          li.appendChild(link);
          var internal = r.audience === 'internal';
          if (internal) li.appendChild(el('span', 'badge-internal', t('internal')));
          var b = el('button', 'send-card', t('send_card'));
          b.type = 'button';
          if (internal) {
            b.disabled = true;
            b.title = t('internal_note');
          }
          b.addEventListener('click', function () { sendMessage(id, h, r.title, [r.slug]); });
          li.appendChild(el('span', null, ' '));
          li.appendChild(b);
          results.appendChild(li);
        });
      });
  }

  function onConversation(f) {
    var id = f.conversation;
    if (typeof id !== 'string') return;
    var w = waiting.get(id);
    if (w) {
      w.node.remove();
      waiting.delete(id);
    }
    var h = held.get(id);
    if (!h) {
      var node = tplConv.content.firstElementChild.cloneNode(true);
      var n = ++uid;
      node.setAttribute('data-conversation', id);
      node.id = 'held-' + n;
      node.setAttribute('aria-labelledby', 'held-title-' + n);
      node.querySelector('.held-title').id = 'held-title-' + n;
      [['.held-label', '.held-text', 'text'], ['.held-search-label', '.held-q', 'q'],
       ['.held-subject-label', '.held-subject', 'subject']].forEach(function (p) {
        var input = node.querySelector(p[1]);
        input.id = 'held-' + p[2] + '-' + n;
        node.querySelector(p[0]).htmlFor = input.id;
      });
      var error = el('p', 'error held-error');
      error.setAttribute('role', 'alert');
      error.hidden = true;
      node.insertBefore(error, node.querySelector('.held-send'));
      h = { node: node, log: node.querySelector('.held-log'), seqs: new Set(), pending: new Map(),
            error: error, lang: 'fr' };
      held.set(id, h);
      var text = node.querySelector('.held-text');
      node.querySelector('.held-send').addEventListener('submit', function (ev) {
        ev.preventDefault();
        var v = text.value.trim();
        if (v && sendMessage(id, h, v)) text.value = '';
      });
      text.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
          ev.preventDefault();
          node.querySelector('.held-send').requestSubmit();
        }
      });
      node.querySelector('.held-search').addEventListener('submit', function (ev) {
        ev.preventDefault();
        var q = node.querySelector('.held-q').value.trim();
        if (q) search(h, id, q);
      });
      node.querySelector('.held-case').addEventListener('submit', function (ev) {
        ev.preventDefault();
        var subject = node.querySelector('.held-subject');
        if (subject.value.trim() && send({ type: 'case', conversation: id, subject: subject.value.trim() }))
          subject.value = '';
      });
      node.querySelector('.leave').addEventListener('click', function () {
        send({ type: 'leave', conversation: id });
      });
      node.querySelector('.end').addEventListener('click', function () {
        send({ type: 'end', conversation: id });
      });
      mineEl.appendChild(node);
    }
    h.lang = typeof f.lang === 'string' ? f.lang : 'fr';
    h.node.querySelector('.held-title').textContent = t('title');
    h.node.querySelector('.held-lang').textContent = langName(f.lang);
    h.node.querySelector('.held-page').textContent = f.page || t('no_page');
    (Array.isArray(f.messages) ? f.messages : []).forEach(function (m) { addMessage(h, m); });
    mineEmpty.hidden = held.size > 0;
  }

  function onReleased(f) {
    var h = held.get(f.conversation);
    if (!h) return;
    h.node.remove();
    held.delete(f.conversation);
    mineEmpty.hidden = held.size > 0;
    say(t('released_' + ({ left: 1, ended: 1, gone: 1 }[f.reason] ? f.reason : 'ended')));
  }

  function onError(f) {
    var h = typeof f.conversation === 'string' ? held.get(f.conversation) : null;
    if (h && typeof f.id === 'string' && h.pending.has(f.id)) {
      h.pending.get(f.id).remove();
      h.pending.delete(f.id);
    }
    var text;
    switch (f.code) {
    case 'taken': text = t('taken', { name: typeof f.name === 'string' ? f.name : '' }); break;
    case 'unknown_conversation': text = t('gone'); break;
    case 'not_public': text = t('not_public'); break;
    case 'unknown_article': text = t('unknown_article'); break;
    case 'unauthenticated': return; /* the close that follows says it */
    default: text = t('error');
    }
    var w = typeof f.conversation === 'string' ? waiting.get(f.conversation) : null;
    if (w) w.node.querySelector('.take').disabled = false;
    showError(h, text);
  }

  function onFrame(data) {
    var f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
    case 'hello':
      me = f.agent || null;
      attempt = 0;
      say(t('connected'), 'ok');
      break;
    case 'queue': onQueue(Array.isArray(f.conversations) ? f.conversations : []); break;
    case 'conversation': onConversation(f); break;
    case 'message': addMessage(held.get(f.conversation), f); break;
    case 'released': onReleased(f); break;
    case 'case': say(t('case_opened', { ref: typeof f.ref === 'string' ? f.ref : '' }), 'ok'); break;
    case 'error': onError(f); break;
    }
  }

  /* ---- the connection ----------------------------------------------------------------- */

  function connect() {
    retryTimer = null;
    if (stopped || ws) return;
    say(t('connecting'));
    var sock;
    try { sock = new WebSocket(agentUrl, 'kb-agent'); } catch (e) { later(); return; }
    ws = sock;
    sock.onmessage = function (ev) { if (ws === sock) onFrame(ev.data); };
    sock.onerror = function () { /* the close follows */ };
    sock.onclose = function (ev) {
      if (ws !== sock) return;
      ws = null;
      if (ev.code === 4401) {
        stopped = true;
        say(t('unauthenticated'), 'error');
        var a = el('a', null, t('signin'));
        a.href = '/login?next=' + encodeURIComponent('/agent/chats?lang=' + pageLang);
        status.appendChild(document.createTextNode(' '));
        status.appendChild(a);
        return;
      }
      say(t('offline'), 'warn');
      later();
    };
  }

  function later() {
    if (stopped || retryTimer) return;
    var d = Math.min(30000, 1000 * Math.pow(2, attempt++));
    retryTimer = setTimeout(connect, d / 2 + Math.random() * d / 2);
  }

  queueEmpty.hidden = false;
  mineEmpty.hidden = false;
  connect();
  window.addEventListener('online', function () { if (!ws && !stopped) { attempt = 0; connect(); } });
})();
