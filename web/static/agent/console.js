// web/static/agent/console.js: the agents' console (/agent). The page is a shell from the
// theme (web/templates/agent.mustache); this module fills it from the JSON API only (api.js)
// and sets every piece of text as text (text.js).
//
// Keyboard (the page's help line and the "?" panel say the same):
//   /            the search box (from anywhere but a text field)
//   typing       results as you type (a prefix search per keystroke; the previous request
//                is aborted, so a slow answer never overwrites a newer one)
//   ↑ ↓          move through the results (focus stays in the search box: aria-activedescendant)
//   Enter        open the selected result (the first when none is selected)
//   Esc          in the article: back to the results, the search box focused, the same
//                result selected; in the flag form: close it; in a filter: the search box
//   c / p / f    in the article: copy the answer, pin or unpin, flag
//   ?            show or hide all the shortcuts
// The results list carries data-q, the query it shows: the speed benchmark
// (tests/bench/console) waits for it.
import { makeApi } from './api.js';
import { snippetFragment, safeFragment, answerText } from './text.js';

const root = document.getElementById('console');
const $ = (id) => document.getElementById(id);
const input = $('console-q');
const form = $('console-form');
const list = $('console-results');
const status = $('console-status');
const view = $('console-article');
const notice = $('article-notice');
const flagForm = $('flag-form');
const keys = $('console-keys');
const filters = {
  category: $('f-category'), tag: $('f-tag'), lang: $('f-lang'), audience: $('f-audience'),
};
const t = (name) => root.getAttribute('data-t-' + name) || '';
const api = makeApi(root.getAttribute('data-csrf') || '');
const uiLang = root.getAttribute('data-lang') || 'fr';

let hits = [];          // the results shown
let active = -1;        // the selected result
let seq = 0;            // searches started
let inflight = null;    // AbortController of the running search
let current = null;     // the article shown
let pinned = new Set(); // slugs of the agent's pins

function say(el, text) { el.textContent = text; }

function badge(text, cls) {
  const b = document.createElement('span');
  b.className = 'badge ' + cls;
  b.textContent = text;
  return b;
}

/** The badges of an article or a hit: internal, and its status when not published. */
function badges(a) {
  const out = [];
  if (a.audience === 'internal') out.push(badge(t('internal'), 'badge-internal'));
  if (a.status && a.status !== 'published') out.push(badge(t(a.status) || a.status, 'badge-' + a.status));
  return out;
}

// ---- results ----------------------------------------------------------------------------

function select(i) {
  active = i;
  hits.forEach((_, k) => {
    const li = $('res-' + k);
    if (li) li.setAttribute('aria-selected', k === i ? 'true' : 'false');
  });
  if (i >= 0) {
    input.setAttribute('aria-activedescendant', 'res-' + i);
    $('res-' + i).scrollIntoView({ block: 'nearest' });
  } else {
    input.removeAttribute('aria-activedescendant');
  }
}

function render(q, data) {
  hits = data.results || [];
  active = -1;
  input.removeAttribute('aria-activedescendant');
  const frag = document.createDocumentFragment();
  hits.forEach((h, i) => {
    const li = document.createElement('li');
    li.id = 'res-' + i;
    li.className = 'console-result';
    li.setAttribute('role', 'option');
    li.setAttribute('aria-selected', 'false');
    li.lang = h.lang;
    const title = document.createElement('span');
    title.className = 'result-title';
    title.textContent = h.title;
    li.appendChild(title);
    for (const b of badges(h)) li.appendChild(b);
    const meta = document.createElement('span');
    meta.className = 'result-meta';
    meta.textContent = [h.category, h.lang].filter(Boolean).join(' · ');
    li.appendChild(meta);
    const snip = document.createElement('span');
    snip.className = 'result-snippet';
    snip.appendChild(snippetFragment(h.snippet));
    li.appendChild(snip);
    li.addEventListener('mousedown', (e) => e.preventDefault()); // keep the focus in the box
    li.addEventListener('click', () => { select(i); open(h.slug); });
    frag.appendChild(li);
  });
  list.replaceChildren(frag);
  list.dataset.q = q;
  input.setAttribute('aria-expanded', hits.length ? 'true' : 'false');
  const n = data.total || 0;
  let line = n === 0 ? (q ? t('no-results') : '') : n === 1 ? t('one-result') : n + ' ' + t('results');
  if (data.corrected_query) line = t('corrected') + ' « ' + data.corrected_query + ' » · ' + line;
  say(status, line);
}

function searchParams(q, prefix) {
  return {
    q, prefix: prefix ? '1' : '0', limit: '10',
    category: filters.category.value, tag: filters.tag.value.trim(),
    lang: filters.lang.value, audience: filters.audience.value,
  };
}

async function search({ prefix = true } = {}) {
  const q = input.value;
  const mine = ++seq;
  if (inflight) inflight.abort();
  inflight = null;
  const url = new URL(location.href);
  if (q) url.searchParams.set('q', q); else url.searchParams.delete('q');
  history.replaceState(null, '', url);
  if (!q.trim()) {
    render('', { results: [], total: 0 });
    return;
  }
  const ctl = new AbortController();
  inflight = ctl;
  // A word being typed is searched as a prefix; a query ending with a space is whole.
  const open = prefix && /[^\s]$/.test(q);
  try {
    const data = await api.search(searchParams(q, open), ctl.signal);
    if (mine !== seq) return;
    render(q, data);
  } catch (e) {
    if (e.name === 'AbortError' || mine !== seq) return;
    say(status, t('error'));
  } finally {
    if (inflight === ctl) inflight = null;
  }
}

// ---- the article ------------------------------------------------------------------------

function articleLink(a) {
  const li = document.createElement('li');
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'link-button';
  b.textContent = a.title;
  if (a.lang) b.lang = a.lang;
  b.addEventListener('click', () => open(a.slug));
  li.appendChild(b);
  if (a.lang) li.appendChild(document.createTextNode(' (' + a.lang + ')'));
  for (const x of badges(a)) li.appendChild(x);
  return li;
}

function fillLinks(boxId, listId, items) {
  const box = $(boxId);
  $(listId).replaceChildren(...items.map(articleLink));
  box.hidden = items.length === 0;
}

function pinButton() {
  const on = current && pinned.has(current.slug);
  const b = $('act-pin');
  b.textContent = on ? t('unpin') : t('pin');
  b.setAttribute('aria-pressed', on ? 'true' : 'false');
}

async function open(slug) {
  let a;
  try {
    a = await api.article(slug);
  } catch (e) {
    say(status, t('error'));
    return;
  }
  current = a;
  view.lang = a.lang;
  say($('article-title'), a.title);
  $('article-badges').replaceChildren(...badges(a));
  $('article-body').replaceChildren(safeFragment(a.html));
  $('act-open').href = a.url;
  fillLinks('article-companions-box', 'article-companions', a.companions || []);
  fillLinks('article-translations-box', 'article-translations', a.translations || []);
  say(notice, '');
  flagForm.hidden = true;
  $('act-flag').setAttribute('aria-expanded', 'false');
  pinButton();
  view.hidden = false;
  view.focus();
  api.viewed(a.slug).then(loadRecent).catch(() => {});
}

function back() {
  flagForm.hidden = true;
  view.hidden = true;
  current = null;
  input.focus();
  if (active >= 0 && $('res-' + active)) select(active);
}

async function copyAnswer() {
  if (!current) return;
  const text = answerText(current.text);
  try {
    await navigator.clipboard.writeText(text);
    say(notice, t('copied'));
  } catch (e) {
    // Without the clipboard API (an insecure origin, a denied permission): the old way.
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'visually-hidden';
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand && document.execCommand('copy');
    area.remove();
    say(notice, ok ? t('copied') : t('copy-failed'));
    view.focus();
  }
}

async function togglePin() {
  if (!current) return;
  const slug = current.slug;
  try {
    if (pinned.has(slug)) {
      await api.unpin(slug);
      say(notice, t('unpinned'));
    } else {
      await api.pin(slug);
      say(notice, t('pinned'));
    }
  } catch (e) {
    say(notice, e.message);
  }
  await loadPins();
}

function toggleFlag() {
  if (!current) return;
  flagForm.hidden = !flagForm.hidden;
  $('act-flag').setAttribute('aria-expanded', flagForm.hidden ? 'false' : 'true');
  if (!flagForm.hidden) flagForm.querySelector('input[name="reason"]:checked').focus();
  else view.focus();
}

flagForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!current) return;
  const reason = flagForm.querySelector('input[name="reason"]:checked').value;
  const comment = $('flag-comment').value;
  try {
    await api.flag(current.slug, reason, comment);
    $('flag-comment').value = '';
    flagForm.hidden = true;
    $('act-flag').setAttribute('aria-expanded', 'false');
    say(notice, t('flagged'));
    view.focus();
  } catch (err) {
    say(notice, err.message);
  }
});

// ---- the desk: pinned and recent --------------------------------------------------------

function fillDesk(ul, items) {
  if (!items.length) {
    const li = document.createElement('li');
    li.className = 'muted';
    li.textContent = t('none');
    ul.replaceChildren(li);
  } else {
    ul.replaceChildren(...items.map(articleLink));
  }
}

async function loadPins() {
  try {
    const data = await api.pins();
    pinned = new Set(data.articles.map((a) => a.slug));
    fillDesk($('console-pins'), data.articles);
    pinButton();
  } catch (e) { /* the desk is a convenience: the search works without it */ }
}

async function loadRecent() {
  try {
    fillDesk($('console-recent'), (await api.recent()).articles);
  } catch (e) { /* as above */ }
}

async function loadFilters() {
  try {
    const f = await api.filters();
    for (const c of f.categories) {
      const o = document.createElement('option');
      o.value = c.name;
      o.textContent = c.name + ' (' + c.lang + ')';
      filters.category.appendChild(o);
    }
    for (const l of f.langs) {
      const o = document.createElement('option');
      o.value = l;
      o.textContent = l;
      filters.lang.appendChild(o);
    }
    const dl = $('f-tags');
    for (const tag of f.tags) {
      const o = document.createElement('option');
      o.value = tag.name;
      dl.appendChild(o);
    }
  } catch (e) { /* filters stay "all" */ }
}

// ---- keyboard ---------------------------------------------------------------------------

function typing(el) {
  return el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' ||
    el.isContentEditable);
}

input.addEventListener('input', () => search());

input.addEventListener('keydown', (e) => {
  if (e.key === 'ArrowDown' && hits.length) {
    e.preventDefault();
    select(Math.min(active + 1, hits.length - 1));
  } else if (e.key === 'ArrowUp' && hits.length) {
    e.preventDefault();
    select(Math.max(active - 1, 0));
  } else if (e.key === 'Enter') {
    e.preventDefault();
    if (hits.length) {
      const i = active >= 0 ? active : 0;
      select(i);
      open(hits[i].slug);
    } else {
      search({ prefix: false });
    }
  } else if (e.key === 'Escape') {
    e.preventDefault();
    if (!view.hidden) back();
    else input.select();
  }
});

form.addEventListener('submit', (e) => { e.preventDefault(); search({ prefix: false }); });

for (const el of Object.values(filters)) {
  el.addEventListener('change', () => { if (input.value.trim()) search({ prefix: false }); });
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); input.focus(); }
  });
}
filters.tag.addEventListener('input', () => {
  if (input.value.trim()) search({ prefix: false });
});

document.addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
  const target = e.target;
  if (e.key === 'Escape') {
    if (!flagForm.hidden && flagForm.contains(target)) {
      e.preventDefault();
      flagForm.hidden = true;
      $('act-flag').setAttribute('aria-expanded', 'false');
      view.focus();
    } else if (!view.hidden) {
      e.preventDefault();
      back();
    }
    return;
  }
  if (typing(target)) return;
  if (e.key === '/') {
    e.preventDefault();
    input.focus();
    input.select();
  } else if (e.key === '?') {
    e.preventDefault();
    keys.open = !keys.open;
  } else if (!view.hidden && view.contains(target)) {
    if (e.key === 'c') { e.preventDefault(); copyAnswer(); }
    else if (e.key === 'p') { e.preventDefault(); togglePin(); }
    else if (e.key === 'f') { e.preventDefault(); toggleFlag(); }
  }
});

$('act-copy').addEventListener('click', copyAnswer);
$('act-pin').addEventListener('click', togglePin);
$('act-flag').addEventListener('click', toggleFlag);
$('act-back').addEventListener('click', back);

// ---- start ------------------------------------------------------------------------------

document.documentElement.lang = uiLang;
input.focus();
loadPins();
loadRecent();
loadFilters();
if (input.value.trim()) search({ prefix: false }); // /agent?q=...: a screen-pop
root.dataset.ready = '1';
