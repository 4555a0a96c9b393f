// tests/integration/security.test.mjs: every route of `kb routes --json` against every kind of
// caller, in one table: anonymous, agent, editor, publisher, admin, a user disabled after
// signing in, an expired session, and an agent's API token. The table below has one entry per
// route with the request that exercises it and the status each caller gets; a route added to
// kb/http/routes.c without an entry here fails the first test, and so does an entry whose
// route is gone. Then CSRF (missing or wrong: refused, nothing changed), and markup typed by a
// customer, an agent or an editor (articles, chat messages, case notes, agent names, flag
// comments) staying inert on every page of the console.
//
// Requests go out with node:http, redirects not followed, each caller from its own loopback
// address (127.0.0.10, .11, ...): the per-address limits (feedback, logins) are the server's
// business and must not decide a status in this table.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KB, kb, startServer } from './lib.mjs';
import { chatContent, connect, openCase } from './chatlib.mjs';

const PW = 'correct horse battery staple';
const XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">';
const CALLERS = ['anonymous', 'agent', 'editor', 'publisher', 'admin', 'disabled', 'expired', 'bearer'];
let srv, db, ref, flagId, category;
const who = {}; // caller -> {cookie, csrf, token, addr}
const sql = (s) => spawnSync('sqlite3', [db, s], { encoding: 'utf8' }).stdout.trim();

/** One request: {status, headers, text}. Never follows a redirect. */
function request(caller, method, path, { json, form, headers = {}, csrf = true, anonForm = false } = {}) {
  const c = who[caller] || {};
  const h = { ...headers };
  if (c.token) h.authorization = `Bearer ${c.token}`;
  const cookies = [];
  if (c.cookie) cookies.push(c.cookie);
  let body;
  if (json !== undefined) {
    body = JSON.stringify(json);
    h['content-type'] = 'application/json';
    if (c.csrf && csrf === true) h['x-csrf-token'] = c.csrf;
    else if (typeof csrf === 'string') h['x-csrf-token'] = csrf;
  } else if (form !== undefined) {
    const f = { ...form };
    // A form carries the session's token, or (anonymous forms) the double-submit token that
    // the caller's own kb_csrf cookie holds.
    if (csrf === true && f.csrf === undefined) f.csrf = anonForm ? c.formToken : c.csrf || c.formToken;
    body = new URLSearchParams(f).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  } else if (method !== 'GET' && method !== 'HEAD') {
    if (c.csrf && csrf === true) h['x-csrf-token'] = c.csrf;
  }
  if (c.formToken) cookies.push(`kb_csrf=${c.formToken}`);
  if (cookies.length) h.cookie = cookies.join('; ');
  // Node frames no body of a DELETE unless told its length.
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  const u = new URL(srv.base + path);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method,
      headers: h, localAddress: c.addr }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

async function signIn(login, addr) {
  const r = await new Promise((resolve, reject) => {
    const u = new URL(srv.base + '/api/v1/session');
    const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST',
      headers: { 'content-type': 'application/json' }, localAddress: addr }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify({ login, password: PW }));
  });
  assert.equal(r.status, 201, `${login}: ${r.text}`);
  return { cookie: r.headers['set-cookie'][0].split(';')[0], csrf: JSON.parse(r.text).csrf_token, addr };
}

// Statuses by caller. The disabled user and the expired session are nobody: what anonymous
// callers get. The API token is an agent's, without a session (no CSRF, no desk of its own).
const ANY = (s) => Object.fromEntries(CALLERS.map((c) => [c, s]));
const AGENT_API = (ok) => ({ anonymous: 401, agent: ok, editor: ok, publisher: ok, admin: ok,
  disabled: 401, expired: 401, bearer: ok });
const EDITOR_API = (ok) => ({ anonymous: 401, agent: 403, editor: ok, publisher: ok, admin: ok,
  disabled: 401, expired: 401, bearer: 403 });
const AGENT_PAGE = (ok) => ({ anonymous: 303, agent: ok, editor: ok, publisher: ok, admin: ok,
  disabled: 303, expired: 303, bearer: ok });
const EDITOR_PAGE = (ok) => ({ anonymous: 303, agent: 403, editor: ok, publisher: ok, admin: ok,
  disabled: 303, expired: 303, bearer: 403 });
const DESK_API = (ok) => ({ ...AGENT_API(ok), bearer: 403 }); // a token has no desk

// One entry per route of `kb routes --json` ("METHOD PATH"): the request, and the statuses.
const TABLE = {
  'GET /': { path: '/', expect: ANY(200) },
  'GET /search': { path: '/search?q=garantie&lang=fr', expect: ANY(200) },
  'GET /a/': { path: '/a/test-drive', expect: ANY(200) },
  'POST /a/': { path: '/a/test-drive/feedback', form: { helpful: 'yes' }, anonForm: true, expect: ANY(303) },
  'GET /c/': { path: () => category, expect: ANY(200) },
  'GET /sitemap.xml': { path: '/sitemap.xml', expect: ANY(200) },
  'GET /robots.txt': { path: '/robots.txt', expect: ANY(200) },
  'GET /login': { path: '/login', expect: ANY(200) },
  // A wrong password: the form again, 401, for everyone.
  'POST /login': { path: '/login', form: (caller) => ({ login: `nobody-${caller}`, password: 'wrong' }), anonForm: true,
    expect: ANY(401) },
  // Signing out answers 303 to anyone; a session ends (its own fresh one, see below).
  'POST /logout': { path: '/logout', form: {}, fresh: true, expect: ANY(303) },
  'GET /agent/cases': { path: '/agent/cases', expect: AGENT_PAGE(200) },
  'GET /agent/cases/': { path: () => `/agent/cases/${ref}`, expect: AGENT_PAGE(200) },
  'POST /agent/cases/': { path: () => `/agent/cases/${ref}/notes`, form: { text: 'a note' },
    expect: { ...AGENT_PAGE(303) } },
  'GET /agent': { path: '/agent', expect: AGENT_PAGE(200) },
  // The live takeover's page (its channel is the chat's websocket: takeover.test.mjs).
  'GET /agent/chats': { path: '/agent/chats', expect: AGENT_PAGE(200) },
  'GET /agent/flags': { path: '/agent/flags', expect: EDITOR_PAGE(200) },
  'POST /agent/flags/': { path: () => `/agent/flags/${flagId}`, form: { status: 'open' },
    expect: EDITOR_PAGE(303) },
  'GET /healthz': { path: '/healthz', expect: ANY(200) },
  'GET /metrics': { path: '/metrics', expect: ANY(200) },
  'GET /api/v1/healthz': { path: '/api/v1/healthz', expect: ANY(200) },
  'GET /api/v1/metrics': { path: '/api/v1/metrics', expect: ANY(200) },
  'GET /api/v1/openapi.json': { path: '/api/v1/openapi.json', expect: ANY(200) },
  'POST /api/v1/session': { path: '/api/v1/session', json: (caller) => ({ login: `nobody-${caller}`, password: 'x' }),
    expect: ANY(401) },
  'DELETE /api/v1/session': { path: '/api/v1/session', fresh: true,
    expect: { ...AGENT_API(204), bearer: 400 } },
  'GET /api/v1/search': { path: '/api/v1/search?q=garantie&lang=fr', expect: ANY(200) },
  'GET /api/v1/suggest': { path: '/api/v1/suggest?q=gar&lang=fr', expect: ANY(200) },
  'GET /api/v1/categories': { path: '/api/v1/categories?lang=fr', expect: ANY(200) },
  'GET /api/v1/articles/*/cases': { path: '/api/v1/articles/test-drive/cases', expect: EDITOR_API(200) },
  'POST /api/v1/articles/*/flags': { path: '/api/v1/articles/test-drive/flags',
    json: { reason: 'outdated', comment: 'checked by the security test' }, expect: AGENT_API(201) },
  'GET /api/v1/articles/': { path: '/api/v1/articles/test-drive', expect: ANY(200) },
  'POST /api/v1/articles/': { path: '/api/v1/articles/test-drive/feedback', json: { helpful: true },
    expect: ANY(201) },
  'GET /api/v1/cases': { path: '/api/v1/cases', expect: AGENT_API(200) },
  'GET /api/v1/cases/': { path: () => `/api/v1/cases/${ref}`, expect: AGENT_API(200) },
  'PATCH /api/v1/cases/': { path: () => `/api/v1/cases/${ref}`, json: { assignee: 'agent1' },
    expect: AGENT_API(200) },
  'POST /api/v1/cases/': { path: () => `/api/v1/cases/${ref}/notes`, json: { text: 'a note' },
    expect: AGENT_API(201) },
  'GET /api/v1/agent/recent': { path: '/api/v1/agent/recent', expect: DESK_API(200) },
  'POST /api/v1/agent/recent': { path: '/api/v1/agent/recent', json: { slug: 'test-drive' },
    expect: DESK_API(201) },
  'GET /api/v1/agent/pins': { path: '/api/v1/agent/pins', expect: DESK_API(200) },
  'POST /api/v1/agent/pins': { path: '/api/v1/agent/pins', json: { slug: 'connected-app' },
    expect: DESK_API(201) },
  'DELETE /api/v1/agent/pins/': { path: '/api/v1/agent/pins/connected-app', expect: DESK_API(204) },
  'GET /api/v1/agent/filters': { path: '/api/v1/agent/filters', expect: AGENT_API(200) },
  'GET /api/v1/flags': { path: '/api/v1/flags', expect: EDITOR_API(200) },
  'PATCH /api/v1/flags/': { path: () => `/api/v1/flags/${flagId}`, json: { status: 'handled' },
    expect: EDITOR_API(200) },
};

function routes() {
  const r = spawnSync(KB, ['routes', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).routes.map((x) => `${x.method} ${x.path}`);
}

before(async () => {
  const { dir, content } = chatContent();
  db = join(dir, 'kb.db');
  // An article whose title and body are markup, to see it inert on the console's pages.
  const extra = join(content, 'articles', 'en', 'security');
  mkdirSync(extra, { recursive: true });
  writeFileSync(join(extra, 'markup.md'), ['---', `title: 'Markup ${XSS.replace(/'/g, "''")}'`,
    'slug: markup-security', 'lang: en', 'category: Security tests', 'audience: public', '---',
    `Body ${XSS} and <b onmouseover="window.__xss=3">bold</b> markup.`, ''].join('\n'));
  assert.equal(kb(['--db', db, 'import', content]).status, 0);
  for (const [login, role, name] of [['agent1', 'agent', `Agent ${XSS}`], ['editor1', 'editor', 'Ed'],
    ['pub1', 'publisher', 'Pub'], ['admin1', 'admin', 'Ada'], ['gone', 'agent', 'Gone'],
    ['stale', 'agent', 'Stale']]) {
    const r = spawnSync(KB, ['--db', db, 'user', 'add', login, '--role', role, '--name', name],
      { input: PW + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  const t = kb(['--db', db, 'token', 'add', 'security-test', '--role', 'agent']);
  assert.equal(t.status, 0, t.stderr);
  srv = await startServer({ dir, importFirst: false });
  // A case opened through the chat, whose customer typed markup.
  const c = await connect(srv.chatUrl);
  await c.start();
  ref = (await openCase(c, { name: 'Jean', subject: `facture ${XSS}`, prefix: 's' })).kase.ref;
  await c.say('s6', `encore ${XSS}`);
  c.close();

  CALLERS.forEach((caller, i) => { who[caller] = { addr: `127.0.0.${10 + i}` }; });
  const logins = { agent: 'agent1', editor: 'editor1', publisher: 'pub1', admin: 'admin1',
    disabled: 'gone', expired: 'stale' };
  for (const [caller, login] of Object.entries(logins))
    who[caller] = await signIn(login, who[caller].addr);
  who.bearer.token = t.stdout.trim();
  // The disabled user signed in, then was disabled; the expired session was idle an hour.
  assert.equal(kb(['--db', db, 'user', 'disable', 'gone']).status, 0);
  sql("UPDATE sessions SET seen_at = seen_at - 3601 WHERE user_id = (SELECT id FROM users WHERE login = 'stale')");
  // Anonymous forms carry a double-submit token: each caller's own kb_csrf cookie.
  for (const caller of CALLERS) who[caller].formToken = 'f'.repeat(22) + String(caller.length).padStart(10, '0');
  // A category to show, and a flag for the editors' routes.
  const cats = JSON.parse((await request('anonymous', 'GET', '/api/v1/categories?lang=en')).text);
  category = cats.categories[0].url;
  const f = await request('agent', 'POST', '/api/v1/articles/markup-security/flags',
    { json: { reason: 'wrong', comment: `flag ${XSS}` } });
  assert.equal(f.status, 201, f.text);
  flagId = JSON.parse(f.text).id;
  const note = await request('agent', 'POST', `/api/v1/cases/${ref}/notes`, { json: { text: `note ${XSS}` } });
  assert.equal(note.status, 201, note.text);
});

after(async () => {
  await srv?.stop();
});

test('every route of `kb routes` has an entry in this table, and every entry a route', () => {
  const listed = routes();
  const missing = listed.filter((r) => !(r in TABLE));
  assert.deepEqual(missing, [], `routes without an entry in security.test.mjs: ${missing.join(', ')}`);
  const stale = Object.keys(TABLE).filter((r) => !listed.includes(r));
  assert.deepEqual(stale, [], `entries for routes that no longer exist: ${stale.join(', ')}`);
  for (const [r, e] of Object.entries(TABLE))
    assert.deepEqual(Object.keys(e.expect).sort(), [...CALLERS].sort(), `${r}: a status for every caller`);
});

test('every route answers every caller with the status of the table', async () => {
  const wrong = [];
  for (const [route, e] of Object.entries(TABLE)) {
    const method = route.split(' ')[0];
    for (const caller of CALLERS) {
      let as = caller;
      if (e.fresh && ['agent', 'editor', 'publisher', 'admin'].includes(caller)) {
        // Ending a session: a session of its own, so that the others go on.
        const login = { agent: 'agent1', editor: 'editor1', publisher: 'pub1', admin: 'admin1' }[caller];
        who[`${caller}-fresh`] = await signIn(login, who[caller].addr);
        who[`${caller}-fresh`].formToken = who[caller].formToken;
        as = `${caller}-fresh`;
      }
      const path = typeof e.path === 'function' ? e.path() : e.path;
      const arg = (x) => (typeof x === 'function' ? x(caller) : x);
      const r = await request(as, method, path, { json: arg(e.json), form: arg(e.form), anonForm: e.anonForm });
      if (r.status !== e.expect[caller])
        wrong.push(`${route} (${method} ${path}) as ${caller}: ${r.status}, expected ${e.expect[caller]}` +
          (r.status >= 400 ? ` (${r.text.slice(0, 120).replace(/\s+/g, ' ')})` : ''));
      if (r.status === 303 && e.expect[caller] === 303 && /^\/agent/.test(path) &&
          ['anonymous', 'disabled', 'expired'].includes(caller))
        assert.match(r.headers.location, /^\/login\?next=/, `${route} as ${caller} goes to the login page`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('CSRF: a session without the token, or with a forged one, is refused and changes nothing', async () => {
  const notes = () => Number(sql(`SELECT count(*) FROM case_notes WHERE case_id = (SELECT id FROM cases WHERE ref = '${ref}')`));
  const before = notes();
  for (const csrf of [false, 'f'.repeat(64)]) {
    const api = await request('agent', 'POST', `/api/v1/cases/${ref}/notes`, { json: { text: 'csrf?' }, csrf });
    assert.equal(api.status, 403, api.text);
    assert.match(api.text, /"csrf"/);
    const page = await request('agent', 'POST', `/agent/cases/${ref}/notes`,
      { form: { text: 'csrf?', csrf: csrf || '' }, csrf: false });
    assert.equal(page.status, 403, page.text.slice(0, 200));
    const flag = await request('editor', 'PATCH', `/api/v1/flags/${flagId}`, { json: { status: 'open' }, csrf });
    assert.equal(flag.status, 403, flag.text);
    const out = await request('agent', 'DELETE', '/api/v1/session', { json: {}, csrf });
    assert.equal(out.status, 403, out.text);
  }
  assert.equal(notes(), before, 'no note was added');
  // The session is still alive: the forged DELETE did not end it.
  assert.equal((await request('agent', 'GET', '/api/v1/cases')).status, 200);
  // An anonymous form without its double-submit token is refused too.
  const fb = await request('anonymous', 'POST', '/a/test-drive/feedback', { form: { helpful: 'yes', csrf: '' }, csrf: false });
  assert.equal(fb.status, 403);
});

test('markup typed by customers, agents and editors stays text on every page of the console', async () => {
  const pages = ['/agent', `/agent?q=${encodeURIComponent(XSS)}`, '/agent/cases', '/agent/chats',
    `/agent/cases?q=${encodeURIComponent(XSS)}`, `/agent/cases/${ref}`, '/agent/flags?status=all',
    '/a/markup-security', `/search?q=${encodeURIComponent(XSS)}&lang=en`, '/login?next=' + encodeURIComponent(XSS)];
  for (const caller of ['editor', 'agent', 'anonymous']) {
    for (const p of pages) {
      const r = await request(caller, 'GET', p);
      if (r.status !== 200) continue; // the table above decides who sees what
      assert.ok(!r.text.includes('<script>window.__xss'), `${p} as ${caller}: a script element`);
      assert.ok(!/<img[^>]*onerror/i.test(r.text), `${p} as ${caller}: an img with onerror`);
      assert.ok(!/<b onmouseover/i.test(r.text), `${p} as ${caller}: an attribute handler`);
    }
  }
  // What was typed is there, as text: the case page shows the customer's words and the note.
  const kase = await request('agent', 'GET', `/agent/cases/${ref}`);
  assert.ok(kase.text.includes('&lt;script&gt;window.__xss=1&lt;/script&gt;'), 'escaped on the case page');
  const flags = await request('editor', 'GET', '/agent/flags?status=all');
  assert.ok(flags.text.includes('flag &lt;script&gt;'), 'the flag comment, escaped');
  // The JSON API returns the text as typed (a client sets it as text).
  const api = JSON.parse((await request('agent', 'GET', `/api/v1/cases/${ref}`)).text);
  assert.ok(api.notes.some((n) => n.text === `note ${XSS}`));
});
