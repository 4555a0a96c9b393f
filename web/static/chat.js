/* chat.js: the chat widget. One tag adds it to any site:
 *
 *   <script src="https://HOST/static/chat.js" data-kb-chat="wss://HOST/chat" data-lang="fr" defer></script>
 *
 * Plain JavaScript, no dependency, no build step. It injects chat.css (next to itself), a
 * launcher button and a panel, and talks the chat protocol documented at the top of
 * kb/chat/frames.c. No inline script or style (the pages' CSP forbids both): classes and the
 * hidden attribute only. Text from the server is inserted with textContent, never as HTML.
 *
 * Storage (keys end with the chat's URL, so that two chats on one site stay apart):
 *   localStorage  "kb-chat:" + URL  {token, at, seq}: the conversation's resume token, the
 *       time of its last activity (ms) and the last seq shown. Shared by the site's tabs. A
 *       token idle for 30 minutes is forgotten (the server ends the conversation then), and so
 *       is one the server answers unknown_conversation, or whose conversation ended.
 *   sessionStorage "kb-chat:" + URL  {token, open, items}: this tab's transcript, whether the
 *       panel was open, and the messages not acknowledged yet (the outbox). items: {seq, from,
 *       text, quick, articles, ref} as shown; the customer's own also carry their client id.
 *
 * Resuming: {"type":"start","resume":TOKEN,"after":N} where N is the last seq of the stored
 * transcript (no "after" when the tab has none: the server sends the whole conversation).
 * Every message is placed by its seq and a seq already shown is never shown again, so a
 * reload shows the conversation once, whole.
 *
 * Duplicates: each customer message gets a client id when typed (kept in the outbox across
 * reloads) and is sent with it until the server acknowledges it (queued while offline, sent
 * again after a reconnect). The server answers a known id with the same ack and no reply. A
 * message resent after a lost ack also comes back in the history of the resume: it is matched
 * to the waiting message (same text) and the ack confirms the match by its seq.
 *
 * Reconnecting: exponential backoff with jitter, 1 s doubling up to 30 s, each delay drawn in
 * [d/2, d); at once when the browser says it is online again. The connection is opened when a
 * conversation is stored (to resume it) or when the panel opens, not for every page view.
 * rate_limited with an id: that message is sent again once, 2 to 6 s later; refused twice, it
 * is marked not sent with a button to retry.
 *
 * A person takes over (the live takeover): handoff frames (waiting, joined, left) and their
 * system messages in a history become notices in the transcript ("Marie joined the
 * conversation"), and an agent's messages show the agent's name above them; both are in the
 * transcript's live region, so screen readers announce them, and a reload restores them from
 * the history (handoff and name on system messages, name and articles on the agent's). */
(function () {
  'use strict';

  var script = document.currentScript || document.querySelector('script[data-kb-chat]');
  if (!script || !window.WebSocket || !window.URL || !window.JSON) return;
  var chatUrl = script.getAttribute('data-kb-chat') || '';
  var scriptUrl;
  try {
    scriptUrl = new URL(script.getAttribute('src') || '', document.baseURI);
    if (!/^wss?:\/\/[^/]/.test(chatUrl)) return;
  } catch (e) { return; }
  var httpOrigin = scriptUrl.origin;

  var MAX_CHARS = 2000;             /* the text box */
  var FRAME_MAX = 4096;             /* bytes of a client frame (KB_CHAT_FRAME_MAX) */
  var IDLE_MS = 30 * 60 * 1000;     /* the server ends a conversation idle that long */
  var BACKOFF_BASE = 1000, BACKOFF_CAP = 30000;
  var CONNECT_TIMEOUT = 10000;      /* a connection not started by then is dropped */
  var RATE_DELAY = 4000;            /* before a rate-limited message is sent again */
  var AUTO_TRIES = 3;               /* sends of a message before it needs the retry button */
  var KEEP_ITEMS = 300;             /* messages kept in sessionStorage */
  var KEY = 'kb-chat:' + chatUrl;
  var CASE_REF = /\bKB-\d{4}-\d{6}\b/;

  var STRINGS = {
    fr: {
      launcher: 'Discuter avec nous', title: 'Discuter avec nous',
      close: 'Fermer la discussion', label: 'Votre message', send: 'Envoyer',
      log: 'Conversation', quick: 'Réponses suggérées', cards: 'Articles utiles',
      welcome: 'Bonjour ! Posez votre question, je vous réponds tout de suite.',
      you: 'Vous', colon: '\u00a0: ', bot: 'Assistant', agent: 'Conseiller', system: 'Information',
      sending: 'Envoi…', failed: 'Non envoyé.', retry: 'Réessayer',
      offline: 'Connexion perdue, nouvelle tentative…', back: 'Connexion rétablie.',
      rate: 'Trop de messages d’un coup : le vôtre sera renvoyé dans quelques secondes.',
      rateFailed: 'Votre message n’a pas pu être envoyé : réessayez dans un instant.',
      busy: 'Le service est très sollicité, nouvelle tentative…',
      error: 'Une erreur est survenue ; nouvel essai…',
      ended: 'La conversation est terminée.', restart: 'Nouvelle conversation',
      expired: 'La conversation précédente est terminée : une nouvelle commence.',
      tooLong: 'Ce message est trop long : raccourcissez-le.',
      caseLabel: 'Votre demande est enregistrée. Référence du dossier :',
      caseText: function (ref) { return 'Dossier ' + ref + ' ouvert.'; },
      unread: 'nouveau message', newTab: '(nouvel onglet)',
      waiting: 'En attente d’un conseiller… Il vous répond ici dans quelques minutes.',
      joined: function (n) { return n + ' a rejoint la conversation.'; },
      left: function (n) { return n + ' a quitté la conversation. L’assistant vous répond de nouveau.'; },
      noAgent: 'Aucun conseiller n’a pu vous répondre pour le moment.'
    },
    en: {
      launcher: 'Chat with us', title: 'Chat with us',
      close: 'Close the chat', label: 'Your message', send: 'Send',
      log: 'Conversation', quick: 'Suggested replies', cards: 'Helpful articles',
      welcome: 'Hello! Ask your question and I will answer right away.',
      you: 'You', colon: ': ', bot: 'Assistant', agent: 'Adviser', system: 'Notice',
      sending: 'Sending…', failed: 'Not sent.', retry: 'Retry',
      offline: 'Connection lost, retrying…', back: 'Connected again.',
      rate: 'Too many messages at once: yours will be sent again in a few seconds.',
      rateFailed: 'Your message could not be sent: try again in a moment.',
      busy: 'The service is very busy, retrying…',
      error: 'Something went wrong; trying again…',
      ended: 'This conversation has ended.', restart: 'New conversation',
      expired: 'The previous conversation has ended: a new one begins.',
      tooLong: 'This message is too long: please shorten it.',
      caseLabel: 'Your request is recorded. Case reference:',
      caseText: function (ref) { return 'Case ' + ref + ' opened.'; },
      unread: 'new message', newTab: '(new tab)',
      waiting: 'Waiting for an adviser… They will answer here in a few minutes.',
      joined: function (n) { return n + ' joined the conversation.'; },
      left: function (n) { return n + ' left the conversation. The assistant answers again.'; },
      noAgent: 'No adviser could answer for now.'
    }
  };

  var pageLang = (script.getAttribute('data-lang') || document.documentElement.lang ||
                  navigator.language || 'fr').toLowerCase();
  var uiLang = /^fr\b/.test(pageLang) ? 'fr' : 'en';
  var serverLang = (pageLang.match(/^[a-z]{2,8}/) || [uiLang])[0];
  var T = STRINGS[uiLang];

  /* ---- storage (either may be missing or refuse: the chat still works) ------------- */

  /* The stored object; null when there is none, undefined when the storage is unusable. */
  function load(area) {
    var s;
    try { s = window[area].getItem(KEY); } catch (e) { return undefined; }
    try {
      var v = JSON.parse(s || 'null');
      return v && typeof v === 'object' ? v : null;
    } catch (e) { return null; }
  }
  function store(area, v) {
    try {
      if (v) window[area].setItem(KEY, JSON.stringify(v));
      else window[area].removeItem(KEY);
    } catch (e) { /* full or disabled */ }
  }

  var conv = { token: null, at: 0, seq: 0 };   /* mirrors localStorage */
  var open = false;
  var items = [];                               /* the transcript, then the outbox */

  function isPending(it) { return typeof it.seq !== 'number'; }

  function saveConv() {
    store('localStorage', conv.token ? { token: conv.token, at: conv.at, seq: conv.seq } : null);
  }
  function saveSession() {
    var shown = items.filter(function (it) { return !isPending(it); });
    var keep = shown.slice(Math.max(0, shown.length - KEEP_ITEMS)).concat(items.filter(isPending));
    store('sessionStorage', {
      token: conv.token, open: open,
      items: keep.map(function (it) {
        return { seq: it.seq, from: it.from, text: it.text, id: it.id, quick: it.quick,
                 articles: it.articles, ref: it.ref, state: it.state, sent: it.sent,
                 name: it.name, handoff: it.handoff };
      })
    });
  }
  function touch() {
    conv.at = Date.now();
    saveConv();
  }

  /* The conversation stored for this site, unless it has been idle too long. Without a
   * usable localStorage, the one in memory (same rule). */
  function readConv() {
    var c = load('localStorage');
    if (c === undefined) c = conv;
    if (!c || typeof c.token !== 'string' || !c.token) return { token: null, at: 0, seq: 0 };
    if (!(Date.now() - (+c.at || 0) < IDLE_MS)) {
      store('localStorage', null);
      return { token: null, at: 0, seq: 0 };
    }
    return { token: c.token, at: +c.at, seq: +c.seq || 0 };
  }

  function restore() {
    conv = readConv();
    var s = load('sessionStorage') || {};
    open = s.open === true;
    var list = Array.isArray(s.items) ? s.items : [];
    var same = conv.token && s.token === conv.token;
    items = list.filter(function (it) {
      return it && typeof it.text === 'string' && typeof it.from === 'string' &&
             (isPending(it) ? typeof it.id === 'string' && it.from === 'customer' : same);
    });
    items.forEach(function (it) {
      if (isPending(it) && it.state !== 'failed') it.state = 'pending';
      if (isPending(it) && !same) it.sent = false; /* another conversation: not sent there */
    });
  }

  /* ---- the UI ------------------------------------------------------------------------ */

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  var uid = 'kbc-' + Math.random().toString(36).slice(2, 8);
  var root, launcher, launcherText, panel, status, restartBtn, log, quickBox, form, input, sendBtn;
  var nodes = new Map();   /* item -> its element */
  var quickOf = null;      /* the item whose quick replies are shown */
  var welcome;

  function icon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '22');
    svg.setAttribute('height', '22');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z');
    p.setAttribute('fill', 'currentColor');
    svg.appendChild(p);
    return svg;
  }

  function build() {
    root = el('div', 'kbc-root');
    root.setAttribute('lang', uiLang);
    root.hidden = true; /* until its stylesheet is there */

    launcher = el('button', 'kbc-launcher');
    launcher.type = 'button';
    launcher.setAttribute('aria-expanded', 'false');
    launcher.setAttribute('aria-controls', uid + '-panel');
    launcher.appendChild(icon());
    launcherText = el('span', 'kbc-launcher-text', T.launcher);
    launcher.appendChild(launcherText);
    var unread = el('span', 'kbc-visually-hidden kbc-unread-text', ' (' + T.unread + ')');
    unread.hidden = true;
    launcher.appendChild(unread);

    panel = el('section', 'kbc-panel');
    panel.id = uid + '-panel';
    panel.setAttribute('role', 'dialog');
    panel.setAttribute('aria-modal', 'false');
    panel.setAttribute('aria-labelledby', uid + '-title');
    panel.hidden = true;

    var header = el('div', 'kbc-header');
    var title = el('h2', 'kbc-title', T.title);
    title.id = uid + '-title';
    var close = el('button', 'kbc-close');
    close.type = 'button';
    close.setAttribute('aria-label', T.close);
    close.appendChild(el('span', null, '×')).setAttribute('aria-hidden', 'true');
    header.appendChild(title);
    header.appendChild(close);

    var notice = el('div', 'kbc-notice');
    status = el('p', 'kbc-status');
    status.setAttribute('role', 'status');
    status.setAttribute('aria-live', 'polite');
    restartBtn = el('button', 'kbc-restart', T.restart);
    restartBtn.type = 'button';
    restartBtn.hidden = true;
    notice.appendChild(status);
    notice.appendChild(restartBtn);

    log = el('div', 'kbc-log');
    log.setAttribute('role', 'log');
    log.setAttribute('aria-live', 'polite');
    log.setAttribute('aria-label', T.log);
    log.tabIndex = 0; /* scrollable: reachable with the keyboard */
    welcome = el('div', 'kbc-msg kbc-msg--bot kbc-welcome');
    welcome.appendChild(el('p', 'kbc-text', T.welcome));
    log.appendChild(welcome);

    quickBox = el('div', 'kbc-quick');
    quickBox.setAttribute('role', 'group');
    quickBox.setAttribute('aria-label', T.quick);
    quickBox.hidden = true;

    form = el('form', 'kbc-form');
    form.setAttribute('novalidate', '');
    var label = el('label', 'kbc-label', T.label);
    label.htmlFor = uid + '-input';
    var row = el('div', 'kbc-row');
    input = el('textarea', 'kbc-input');
    input.id = uid + '-input';
    input.rows = 2;
    input.maxLength = MAX_CHARS;
    input.setAttribute('autocomplete', 'off');
    sendBtn = el('button', 'kbc-send', T.send);
    sendBtn.type = 'submit';
    sendBtn.disabled = true;
    row.appendChild(input);
    row.appendChild(sendBtn);
    form.appendChild(label);
    form.appendChild(row);

    panel.appendChild(header);
    panel.appendChild(notice);
    panel.appendChild(log);
    panel.appendChild(quickBox);
    panel.appendChild(form);
    root.appendChild(panel);
    root.appendChild(launcher);

    launcher.addEventListener('click', function () { if (open) closePanel(); else openPanel(true); });
    close.addEventListener('click', closePanel);
    restartBtn.addEventListener('click', function () { restart(); input.focus(); });
    panel.addEventListener('keydown', function (e) {
      if (e.key === 'Escape' || e.key === 'Esc') {
        e.preventDefault();
        closePanel();
      }
    });
    input.addEventListener('input', updateSend);
    input.addEventListener('keydown', function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        sendTyped();
      }
    });
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      sendTyped();
    });
  }

  function updateSend() {
    sendBtn.disabled = !input.value.trim();
  }

  function setUnread(on) {
    launcher.classList.toggle('kbc-has-unread', on);
    launcher.querySelector('.kbc-unread-text').hidden = !on;
  }

  function openPanel(focus) {
    open = true;
    panel.hidden = false;
    root.classList.add('kbc-open');
    launcher.setAttribute('aria-expanded', 'true');
    setUnread(false);
    saveSession();
    scrollDown();
    if (focus) input.focus();
    if (!ended) connect();
  }

  function closePanel() {
    open = false;
    panel.hidden = true;
    root.classList.remove('kbc-open');
    launcher.setAttribute('aria-expanded', 'false');
    saveSession();
    launcher.focus();
  }

  function scrollDown() {
    log.scrollTop = log.scrollHeight;
  }

  var noticeKind = null, noticeTimer = null;
  /* The notice above the transcript (a live region): kind is a key of T, or null. */
  function notify(kind, transient) {
    clearTimeout(noticeTimer);
    noticeKind = kind;
    status.textContent = kind ? T[kind] : '';
    status.className = 'kbc-status' + (kind ? ' kbc-status--' + kind : '');
    restartBtn.hidden = kind !== 'ended';
    if (transient)
      noticeTimer = setTimeout(function () { if (noticeKind === kind) notify(null); }, 4000);
  }

  /* An http(s) address for an article's url (a path like /a/slug, resolved against the
   * chat's HTTP origin so that cards work on other sites), or null. */
  function articleHref(url) {
    if (typeof url !== 'string' || !url) return null;
    try {
      var u = new URL(url, httpOrigin + '/');
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
    } catch (e) { return null; }
  }

  /* The notice of a handoff state (waiting, joined, left) in the widget's language; null for
   * a state it does not know (the server's text is shown then). */
  function handoffText(state, name) {
    var n = typeof name === 'string' && name ? name : null;
    if (state === 'waiting') return T.waiting;
    if (state === 'joined') return T.joined(n || T.agent);
    if (state === 'left') return n ? T.left(n) : T.noAgent;
    return null;
  }

  function render(it) {
    var from = { customer: 1, bot: 1, agent: 1, system: 1 }[it.from] ? it.from : 'system';
    var node = el('div', 'kbc-msg kbc-msg--' + from);
    if (!isPending(it)) node.setAttribute('data-seq', String(it.seq));
    if (it.ref) {
      node.classList.add('kbc-case');
      node.appendChild(el('p', 'kbc-case-label', T.caseLabel));
      node.appendChild(el('p', 'kbc-case-ref', it.ref));
      return node;
    }
    if (it.handoff) {
      /* a person takes over, or leaves: a notice of its own */
      node.classList.add('kbc-handoff', 'kbc-handoff--' + it.handoff);
      node.appendChild(el('p', 'kbc-text', handoffText(it.handoff, it.name) || it.text));
      return node;
    }
    var who = { customer: T.you, bot: T.bot, agent: T.agent, system: T.system }[from];
    /* an agent by name (from the server: text only, never markup) */
    if (from === 'agent' && typeof it.name === 'string' && it.name) who = it.name;
    /* the sender: said to screen readers; shown for people (an agent) */
    node.appendChild(el('span', from === 'agent' ? 'kbc-who' : 'kbc-visually-hidden', who + T.colon));
    node.appendChild(el('p', 'kbc-text', it.text));
    var arts = Array.isArray(it.articles) ? it.articles : [];
    var list = null;
    arts.forEach(function (a) {
      var href = a && articleHref(a.url);
      if (!href || typeof a.title !== 'string') return;
      if (!list) {
        list = el('ul', 'kbc-cards');
        list.setAttribute('aria-label', T.cards);
      }
      var li = el('li');
      var link = el('a', 'kbc-card');
      link.href = href;
      if (new URL(href).origin !== location.origin) {
        link.target = '_blank';
        link.rel = 'noopener';
      }
      link.appendChild(el('span', 'kbc-card-title', a.title));
      if (typeof a.summary === 'string' && a.summary)
        link.appendChild(el('span', 'kbc-card-summary', a.summary));
      if (link.target) link.appendChild(el('span', 'kbc-visually-hidden', ' ' + T.newTab));
      li.appendChild(link);
      list.appendChild(li);
    });
    if (list) node.appendChild(list);
    if (isPending(it)) setState(node, it);
    return node;
  }

  /* The delivery state of a customer's message, changed in place: the live region announces
   * what is added (not sent, retry), not the message again. */
  function setState(node, it) {
    var pending = isPending(it);
    if (pending) node.removeAttribute('data-seq');
    else node.setAttribute('data-seq', String(it.seq));
    node.classList.toggle('kbc-pending', pending && it.state !== 'failed');
    node.classList.toggle('kbc-failed', pending && it.state === 'failed');
    var old = node.querySelector('.kbc-meta');
    if (old) old.remove();
    if (!pending) return;
    var meta = el('p', 'kbc-meta', it.state === 'failed' ? T.failed : T.sending);
    if (it.state === 'failed') {
      var retry = el('button', 'kbc-retry', T.retry);
      retry.type = 'button';
      retry.addEventListener('click', function () {
        it.state = 'pending';
        it.rl = 0;
        it.tries = 0;
        refresh(it);
        saveSession();
        input.focus();
        if (ready) transmit(it); else connect();
      });
      meta.appendChild(document.createTextNode(' '));
      meta.appendChild(retry);
    }
    node.appendChild(meta);
  }

  function order() {
    var shown = items.filter(function (it) { return !isPending(it); });
    shown.sort(function (a, b) { return a.seq - b.seq; });
    items = shown.concat(items.filter(isPending));
  }

  /* Puts the transcript's elements in the order of items, creating the missing ones. */
  function sync() {
    order();
    var before = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    var prev = welcome;
    var live = new Set(items);
    nodes.forEach(function (node, it) {
      if (!live.has(it)) {
        node.remove();
        nodes.delete(it);
      }
    });
    items.forEach(function (it) {
      var node = nodes.get(it);
      if (!node) {
        node = render(it);
        nodes.set(it, node);
      }
      if (prev.nextSibling !== node) log.insertBefore(node, prev.nextSibling);
      prev = node;
    });
    syncQuick();
    if (before) scrollDown();
  }

  function refresh(it) {
    var node = nodes.get(it);
    if (node) setState(node, it);
    else sync();
  }

  /* The quick replies of the bot's last message, unless the customer has written since
   * (notices such as a case reference do not hide them). */
  function syncQuick() {
    var last = null;
    for (var i = items.length - 1; i >= 0 && !last; i--)
      if (items[i].from !== 'system') last = items[i];
    if (ended) last = null; /* nothing to answer any more */
    var q = last && last.from === 'bot' && Array.isArray(last.quick) ? last.quick : [];
    if (last === quickOf && quickBox.childNodes.length === q.length) return; /* keep the focus */
    quickOf = last;
    quickBox.textContent = '';
    q.forEach(function (text) {
      if (typeof text !== 'string' || !text) return;
      var b = el('button', 'kbc-quick-reply', text);
      b.type = 'button';
      b.addEventListener('click', function () {
        submit(text);
        input.focus();
      });
      quickBox.appendChild(b);
    });
    quickBox.hidden = !quickBox.firstChild;
  }

  /* ---- the conversation ------------------------------------------------------------- */

  var ws = null, ready = false, attempt = 0, retryTimer = null, connectTimer = null;
  var ended = false, wasOffline = false;

  function newId() {
    var r = new Uint32Array(2);
    (window.crypto || window.msCrypto).getRandomValues(r);
    return 'w-' + Date.now().toString(36) + '-' + r[0].toString(36) + r[1].toString(36);
  }

  function utf8Length(s) {
    if (window.TextEncoder) return new TextEncoder().encode(s).length;
    return unescape(encodeURIComponent(s)).length;
  }

  function byId(id) {
    for (var i = 0; i < items.length; i++) if (items[i].id === id) return items[i];
    return null;
  }
  function bySeq(seq) {
    for (var i = 0; i < items.length; i++) if (items[i].seq === seq) return items[i];
    return null;
  }

  function sendTyped() {
    if (submit(input.value)) {
      input.value = '';
      updateSend();
    }
  }

  /* A customer message: shown at once as "sending…", sent now or when the connection is
   * back. False when it cannot be sent (empty, too long). */
  function submit(raw) {
    var text = String(raw).trim();
    if (!text) return false;
    var id = newId();
    if (text.length > MAX_CHARS ||
        utf8Length(JSON.stringify({ type: 'message', id: id, text: text })) > FRAME_MAX) {
      notify('tooLong');
      return false;
    }
    if (ended) restart();
    if (noticeKind === 'tooLong' || noticeKind === 'rateFailed') notify(null);
    var it = { id: id, from: 'customer', text: text, state: 'pending', sent: false };
    items.push(it);
    sync();
    scrollDown();
    saveSession();
    if (conv.token) touch();
    if (ready) transmit(it); else connect();
    return true;
  }

  function transmit(it) {
    if (!ws || !ready || !isPending(it) || it.state === 'failed') return;
    try {
      ws.send(JSON.stringify({ type: 'message', id: it.id, text: it.text }));
    } catch (e) { return; }
    it.sent = true;
    it.tries = (it.tries || 0) + 1;
    saveSession();
  }

  function flush() {
    items.filter(function (it) {
      return isPending(it) && it.state === 'pending' && !it.held;
    }).forEach(transmit);
  }

  /* A stored message from the server (reply, history, case). Ignored when its seq is shown. */
  function add(m) {
    if (!m || typeof m.seq !== 'number' || bySeq(m.seq)) return;
    var text = typeof m.text === 'string' ? m.text : '';
    if (m.from === 'customer') {
      /* our own message whose ack was lost: the ack of its resend confirms it */
      for (var i = 0; i < items.length; i++) {
        var p = items[i];
        if (isPending(p) && p.state === 'pending' && p.sent && p.text === text) {
          p.seq = m.seq;
          p.state = null;
          p.matched = true;
          refresh(p);
          sync();
          noteSeq(m.seq);
          return;
        }
      }
    }
    var it = { seq: m.seq, from: String(m.from || 'system'), text: text };
    if (it.from === 'bot') {
      it.quick = Array.isArray(m.quick_replies) ? m.quick_replies : [];
      it.articles = Array.isArray(m.articles) ? m.articles : [];
    }
    if (it.from === 'agent') {
      it.name = typeof m.name === 'string' ? m.name : '';
      it.articles = Array.isArray(m.articles) ? m.articles : [];
    }
    if (it.from === 'system' && typeof m.handoff === 'string') {
      it.handoff = m.handoff;
      it.name = typeof m.name === 'string' ? m.name : null;
    } else if (it.from === 'system') {
      var ref = typeof m.ref === 'string' ? m.ref : (text.match(CASE_REF) || [])[0];
      if (ref) it.ref = ref;
    }
    var fresh = m.seq > conv.seq;
    items.push(it);
    sync();
    noteSeq(m.seq);
    if (!open && fresh && it.from !== 'customer') setUnread(true);
  }

  function noteSeq(seq) {
    if (seq > conv.seq) conv.seq = seq;
    touch();
    saveSession();
  }

  function onAck(id, seq) {
    var it = byId(id);
    if (!it || typeof seq !== 'number') return;
    var other = bySeq(seq);
    if (it.seq === seq) {
      it.matched = false;
    } else if (other && other !== it) {
      /* shown already (the history of a resume): that one is ours */
      other.id = it.id;
      items.splice(items.indexOf(it), 1);
      sync();
      noteSeq(seq);
      return;
    } else {
      if (!isPending(it)) /* matched by text to another message with the same text */
        items.push({ seq: it.seq, from: 'customer', text: it.text });
      it.seq = seq;
      it.state = null;
      it.matched = false;
    }
    refresh(it);
    sync();
    noteSeq(seq);
  }

  function lastSeq() {
    var n = 0;
    items.forEach(function (it) { if (!isPending(it) && it.seq > n) n = it.seq; });
    return n;
  }

  /* The conversation is over for us: forget its token; the outbox stays for the next one. */
  function forget() {
    conv = { token: null, at: 0, seq: 0 };
    saveConv();
    clearTranscript();
  }

  function clearTranscript() {
    items = items.filter(isPending);
    items.forEach(function (it) { it.sent = false; it.tries = 0; it.rl = 0; });
    nodes.forEach(function (node) { node.remove(); });
    nodes.clear();
    sync();
    saveSession();
  }

  function restart() {
    ended = false;
    forget();
    notify(null);
    connect();
  }

  function wanted() {
    return !ended && (conv.token || open || items.some(isPending));
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws || !wanted()) return;
    /* another tab may have started or forgotten a conversation meanwhile */
    var c = readConv();
    if (c.token !== conv.token) {
      clearTranscript();
      conv = c;
    }
    var sock;
    try {
      sock = new WebSocket(chatUrl);
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    ready = false;
    clearTimeout(connectTimer);
    connectTimer = setTimeout(function () { if (ws === sock && !ready) sock.close(); }, CONNECT_TIMEOUT);
    sock.onopen = function () { if (ws === sock) sendStart(); };
    sock.onmessage = function (ev) { if (ws === sock) onFrame(ev.data); };
    sock.onerror = function () { /* the close event follows */ };
    sock.onclose = function (ev) { if (ws === sock) onClose(ev); };
  }

  function sendStart() {
    var f = { type: 'start', lang: serverLang };
    if (conv.token) {
      f.resume = conv.token;
      var after = lastSeq();
      if (after > 0) f.after = after;
    }
    if (location.pathname.length <= 512) f.page = location.pathname;
    ws.send(JSON.stringify(f));
  }

  function drop() {
    if (!ws) return;
    var sock = ws;
    ws = null;
    ready = false;
    clearTimeout(connectTimer);
    try { sock.close(1000); } catch (e) { /* closed already */ }
  }

  function onClose(ev) {
    ws = null;
    ready = false;
    clearTimeout(connectTimer);
    if (ev && ev.code === 1000 && ev.reason === 'conversation ended') {
      ended = true;
      conv = { token: null, at: 0, seq: 0 };
      saveConv();
      saveSession();
      syncQuick();
      notify('ended');
      return;
    }
    wasOffline = true;
    if (noticeKind !== 'busy' && noticeKind !== 'rate') notify('offline');
    scheduleReconnect();
  }

  function scheduleReconnect() {
    if (retryTimer || !wanted()) return;
    var d = Math.min(BACKOFF_CAP, BACKOFF_BASE * Math.pow(2, attempt));
    attempt++;
    retryTimer = setTimeout(connect, d / 2 + Math.random() * d / 2);
  }

  function onFrame(data) {
    var f;
    try { f = JSON.parse(data); } catch (e) { return; }
    if (!f || typeof f !== 'object') return;
    switch (f.type) {
    case 'started':
      ready = true;
      attempt = 0;
      clearTimeout(connectTimer);
      if (typeof f.conversation === 'string' && f.conversation !== conv.token) {
        if (conv.token) forget();
        conv = { token: f.conversation, at: 0, seq: 0 };
      }
      touch();
      saveSession();
      if (noticeKind === 'offline' || noticeKind === 'busy' || noticeKind === 'error' ||
          (wasOffline && noticeKind === null))
        notify(wasOffline ? 'back' : null, true);
      wasOffline = false;
      flush();
      break;
    case 'history':
      (Array.isArray(f.messages) ? f.messages : []).forEach(add);
      break;
    case 'ack':
      onAck(f.id, f.seq);
      break;
    case 'reply':
      add({ seq: f.seq, from: 'bot', text: f.text, quick_replies: f.quick_replies,
            articles: f.articles });
      break;
    case 'case':
      if (typeof f.ref === 'string')
        add({ seq: f.seq, from: 'system', ref: f.ref, text: T.caseText(f.ref) });
      break;
    case 'handoff':
      if (typeof f.state === 'string')
        add({ seq: f.seq, from: 'system', handoff: f.state, name: f.name,
              text: handoffText(f.state, f.name) || '' });
      break;
    case 'agent':
      add({ seq: f.seq, from: 'agent', text: f.text, name: f.name, articles: f.articles });
      break;
    case 'error':
      onError(f);
      break;
    }
  }

  function later(fn, ms) {
    setTimeout(fn, ms / 2 + Math.random() * ms);
  }

  function onError(f) {
    var it = typeof f.id === 'string' ? byId(f.id) : null;
    switch (f.code) {
    case 'rate_limited':
      if (it && isPending(it)) {
        it.rl = (it.rl || 0) + 1;
        if (it.rl > 1) {
          it.state = 'failed';
          refresh(it);
          saveSession();
          notify('rateFailed');
          return;
        }
        notify('rate', true);
        it.held = true; /* not sent again by a reconnection meanwhile */
        later(function () {
          it.held = false;
          transmit(it);
        }, RATE_DELAY);
        return;
      }
      if (!ready) { /* the start was refused: try again later */
        notify('busy');
        drop();
        scheduleReconnect();
        return;
      }
      notify('rate', true);
      resendLater();
      return;
    case 'unknown_conversation':
      /* ended or expired: forget it and start a new one (the outbox goes there) */
      forget();
      notify('expired', true);
      if (ws && !ready) sendStart();
      else { drop(); connect(); }
      return;
    case 'server_error':
      if (!ready) {
        notify('error', true);
        drop();
        scheduleReconnect();
        return;
      }
      notify('error', true);
      resendLater();
      return;
    case 'too_large':
      notify('tooLong');
      return;
    default: /* bad_frame, not_started: nothing the customer can do */
      return;
    }
  }

  /* Messages refused without an id (the queue was full, a write failed): sent again with
   * their ids; the server acknowledges those it has without a second reply. */
  function resendLater() {
    later(function () {
      items.forEach(function (it) {
        if (!isPending(it) || it.state !== 'pending' || !it.sent) return;
        if ((it.tries || 0) >= AUTO_TRIES) {
          it.state = 'failed';
          refresh(it);
          saveSession();
          return;
        }
        transmit(it);
      });
    }, RATE_DELAY);
  }

  /* ---- start ------------------------------------------------------------------------ */

  function init() {
    if (document.querySelector('.kbc-root')) return; /* added twice */
    restore();
    build();
    var css = new URL('chat.css', scriptUrl).href;
    var present = Array.prototype.some.call(document.querySelectorAll('link[rel="stylesheet"]'),
                                            function (l) { return l.href === css; });
    var show = function () { root.hidden = false; };
    if (present) {
      show();
    } else {
      var link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = css;
      link.addEventListener('load', show);
      link.addEventListener('error', show);
      (document.head || document.documentElement).appendChild(link);
    }
    document.body.appendChild(root);
    sync();
    if (open) openPanel(false);
    else if (conv.token) connect();
    window.addEventListener('online', function () {
      if (!ws && wanted()) {
        attempt = 0;
        connect();
      }
    });
    window.addEventListener('offline', function () { if (ws) ws.close(); });
    window.addEventListener('pagehide', function () {
      clearTimeout(retryTimer);
      retryTimer = null;
      drop();
    });
    window.addEventListener('pageshow', function (e) { if (e.persisted && wanted()) connect(); });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
