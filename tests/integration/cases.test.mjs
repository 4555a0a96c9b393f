// tests/integration/cases.test.mjs: the agents' cases inbox against the real server: cases
// opened through the live chat (the test rules of fixtures/chat), agents created with
// `kb user add`, a real CRM receiver verifying every delivery with standardwebhooks. The
// JSON API (list and filters, the case, assign, the state machine and its refusals, notes,
// linked articles, history), the console's pages without JavaScript (forms with the
// session's CSRF token, escaping of everything a customer or an agent typed), then in
// chromium (no console error under the CSP, axe-core), the events the CRM receives, roles
// (anonymous 401, agent 403 on the editors' route), CSRF (absent or forged: 403; a bearer
// token needs none), `kb case show` and `kb audit`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { KB, kb, startServer, getJSON, getText, q } from './lib.mjs';
import { SECRET, chatContent, connect, openCase, startReceiver } from './chatlib.mjs';

const PW = 'correct horse battery staple';
const XSS_SCRIPT = '<script>alert(1)</script>';
const XSS_IMG = '"><img src=x onerror=alert(1)>';
let srv, crm, db;
const refs = {}; // a: Jean (facture), b: Marie (script subject), c: Paul (img subject)
const sessions = {};
let token;

const sql = (s) => spawnSync('sqlite3', [db, s], { encoding: 'utf8' }).stdout.trim();

function user(args, password = PW) {
  return spawnSync(KB, ['--db', db, ...args], { input: password + '\n', encoding: 'utf8' });
}

async function login(name) {
  const r = await fetch(srv.base + '/api/v1/session', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: name, password: PW }),
  });
  assert.equal(r.status, 201, name);
  const body = await r.json();
  return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: body.csrf_token };
}

/** A JSON API call as `who` (a session name, 'token', or null for anonymous). */
async function api(path, { method = 'GET', who = 'alice', body, csrf = true, headers = {} } = {}) {
  const h = { ...headers };
  if (who === 'token') h.authorization = `Bearer ${token}`;
  else if (who) {
    h.cookie = sessions[who].cookie;
    if (csrf === true) h['x-csrf-token'] = sessions[who].csrf;
    else if (typeof csrf === 'string') h['x-csrf-token'] = csrf;
  }
  if (body !== undefined) h['content-type'] = 'application/json';
  return getJSON(srv.base, path, {
    method, headers: h, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** A page (or a form post) as `who`, redirects not followed. */
async function page(path, { who = 'alice', form } = {}) {
  const headers = who ? { cookie: sessions[who].cookie } : {};
  if (form === undefined) return getText(srv.base, path, { headers });
  return getText(srv.base, path, {
    method: 'POST', body: new URLSearchParams(form).toString(),
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
  });
}

const caseShow = (ref) => {
  const r = spawnSync(KB, ['--db', db, 'case', 'show', ref, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
};

before(async () => {
  crm = await startReceiver();
  const { dir, content } = chatContent();
  db = join(dir, 'kb.db');
  assert.equal(kb(['--db', db, 'import', content]).status, 0);
  srv = await startServer({ dir, importFirst: false,
    args: ['--crm-url', crm.url, '--crm-secret', SECRET], env: { KB_CRM_RETRY_SCALE: '0.002' } });
  // Three conversations end in cases; the first one is shown articles before.
  const a = await connect(srv.chatUrl);
  await a.start();
  await a.say('g1', 'garantie constructeur');
  refs.a = (await openCase(a, { name: 'Jean', email: 'jean.dupont@example.fr',
    subject: 'ma facture est fausse', prefix: 'a' })).kase.ref;
  const b = await connect(srv.chatUrl);
  await b.start();
  refs.b = (await openCase(b, { name: 'Marie', email: 'marie.curie@example.org',
    subject: XSS_SCRIPT, prefix: 'b' })).kase.ref;
  const c = await connect(srv.chatUrl);
  await c.start();
  refs.c = (await openCase(c, { name: 'Paul', email: 'paul@example.net', subject: XSS_IMG,
    prefix: 'c' })).kase.ref;
  for (const x of [a, b, c]) x.close();
  // The chat keeps letters of a name only; a name may still come from elsewhere (an import,
  // the CRM): Marie's becomes markup, to check that nothing renders it.
  sql(`UPDATE cases SET name = '${XSS_IMG.replace(/'/g, "''")} ${XSS_SCRIPT}' WHERE ref = '${refs.b}'`);
  for (const [login, role, name] of [['alice', 'agent', 'Alice Martin'], ['bob', 'agent', 'Bob'],
    ['eve', 'editor', 'Ève'], ['zoe', 'agent', 'Zoé']]) {
    const r = user(['user', 'add', login, '--role', role, '--name', name]);
    assert.equal(r.status, 0, r.stderr);
  }
  for (const n of ['alice', 'bob', 'eve']) sessions[n] = await login(n);
  const t = kb(['--db', db, 'token', 'add', 'crm-bridge', '--role', 'agent']);
  assert.equal(t.status, 0, t.stderr);
  token = t.stdout.trim();
});

after(async () => {
  await srv?.stop();
  await crm?.close();
});

test('anonymous callers get 401 on every API route, and the login page for the console', async () => {
  const ref = refs.a;
  for (const [method, path, body] of [['GET', '/api/v1/cases'], ['GET', `/api/v1/cases/${ref}`],
    ['PATCH', `/api/v1/cases/${ref}`, { status: 'open' }], ['POST', `/api/v1/cases/${ref}/notes`, { text: 'x' }],
    ['POST', `/api/v1/cases/${ref}/articles`, { slug: 'garantie-constructeur' }],
    ['GET', '/api/v1/articles/garantie-constructeur/cases'], ['GET', '/api/v1/cases?q=jean']]) {
    const r = await api(path, { method, who: null, body });
    assert.equal(r.status, 401, `${method} ${path}`);
    assert.equal(r.body.error.code, 'unauthenticated');
  }
  for (const path of ['/agent/cases', `/agent/cases/${ref}`]) {
    const r = await page(path, { who: null });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/login?next=' + q(path));
  }
  const post = await page(`/agent/cases/${ref}/notes`, { who: null, form: { text: 'x' } });
  assert.equal(post.status, 303);
  assert.match(post.headers.get('location'), /^\/login/);
  assert.equal(sql('SELECT count(*) FROM case_notes'), '0');
});

test('the list: newest first, total, paging, and the contract of each line', async () => {
  const all = await api('/api/v1/cases');
  assert.equal(all.status, 200);
  assert.equal(all.body.total, 3);
  assert.deepEqual(all.body.cases.map((x) => x.ref), [refs.c, refs.b, refs.a]);
  const a = all.body.cases[2];
  assert.deepEqual(Object.keys(a).sort(), ['assignee', 'contact', 'created_at', 'lang', 'ref', 'status', 'subject']);
  assert.deepEqual(a.contact, { name: 'Jean' });
  assert.equal(a.assignee, null);
  assert.equal(a.status, 'new');
  assert.equal(a.subject, 'ma facture est fausse');
  assert.equal(a.lang, 'fr');
  assert.match(a.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const one = await api('/api/v1/cases?limit=1&offset=1');
  assert.equal(one.body.total, 3);
  assert.deepEqual(one.body.cases.map((x) => x.ref), [refs.b]);
  assert.equal((await api('/api/v1/cases?offset=5')).body.cases.length, 0);
  for (const bad of ['status=lost', 'limit=0', 'limit=101', 'offset=-1', 'offset=10001', 'lang=FR1',
    'q=' + 'x'.repeat(201)]) {
    const r = await api('/api/v1/cases?' + bad);
    assert.equal(r.status, 400, bad);
  }
});

test('q searches reference, name, email and subject, case aside; short words too', async () => {
  const hits = async (s) => (await api('/api/v1/cases?q=' + q(s))).body.cases.map((x) => x.ref).sort();
  assert.deepEqual(await hits('MARIE'), [refs.b], 'email, case aside');
  assert.deepEqual(await hits('dupont'), [refs.a], 'part of an email');
  assert.deepEqual(await hits('jean'), [refs.a], 'name and email');
  assert.deepEqual(await hits('facture'), [refs.a], 'subject');
  assert.deepEqual(await hits(refs.c), [refs.c], 'the whole reference');
  assert.deepEqual(await hits(refs.b.slice(-6)), [refs.b], 'the reference\'s number');
  assert.deepEqual(await hits('example'), [refs.a, refs.b, refs.c].sort());
  assert.deepEqual(await hits('Pa'), [refs.c], 'under three characters: scanned');
  assert.deepEqual(await hits('onerror'), [refs.b, refs.c].sort(), 'markup is text like any other');
  assert.deepEqual(await hits('nobody-at-all'), []);
  assert.deepEqual(await hits('%'), []);
  assert.deepEqual(await hits('"'), [refs.b, refs.c].sort());
  // Filters combine.
  const r = await api('/api/v1/cases?status=new&lang=fr&q=example&limit=2');
  assert.equal(r.body.total, 3);
  assert.equal(r.body.cases.length, 2);
  assert.equal((await api('/api/v1/cases?lang=en')).body.total, 0);
});

test('the case: kb_crm_case_json\'s fields, assignee, notes, history, linked articles; read is audited', async () => {
  const r = await api(`/api/v1/cases/${refs.a}`);
  assert.equal(r.status, 200);
  const show = caseShow(refs.a);
  const { assignee, notes, history, linked_articles, ...base } = r.body;
  assert.deepEqual(base, show, 'exactly the fields of kb case show --json');
  assert.equal(assignee, null);
  assert.deepEqual(notes, []);
  assert.deepEqual(linked_articles, []);
  assert.equal(history.length, 1);
  assert.deepEqual(Object.keys(history[0]).sort(), ['actor', 'at', 'change', 'from', 'to']);
  assert.deepEqual({ ...history[0], at: undefined }, { at: undefined, actor: 'chat', change: 'created', from: null, to: 'new' });
  assert.ok(show.articles.length > 0, 'the bot suggested articles in this conversation');
  assert.equal((await api('/api/v1/cases/KB-2026-999999')).status, 404);
  assert.equal((await api('/api/v1/cases/not-a-ref')).status, 404);
  assert.equal((await api(`/api/v1/cases/${refs.a}/other`)).status, 404);
  assert.equal((await api(`/api/v1/cases/${refs.a}`, { method: 'DELETE' })).status, 405);
});

test('PATCH assigns and moves through the state machine; refused moves are 409 and change nothing', async () => {
  const ref = refs.a;
  const p = (body, who = 'alice') => api(`/api/v1/cases/${ref}`, { method: 'PATCH', body, who });
  let r = await p({ status: 'open', assignee: 'alice' });
  assert.equal(r.status, 200);
  assert.equal(r.body.status, 'open');
  assert.equal(r.body.assignee, 'alice');
  assert.deepEqual(r.body.history.slice(1).map((h) => [h.actor, h.change, h.from, h.to]),
    [['alice', 'status', 'new', 'open'], ['alice', 'assignee', null, 'alice']]);
  // Refused: back to new, and the assignee of the same PATCH is not applied either.
  r = await p({ status: 'new', assignee: 'bob' });
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, 'invalid_transition');
  r = await api(`/api/v1/cases/${ref}`);
  assert.equal(r.body.status, 'open');
  assert.equal(r.body.assignee, 'alice');
  assert.equal(r.body.history.length, 3);
  // The same status is no change: 200, no history row.
  r = await p({ status: 'open' });
  assert.equal(r.status, 200);
  assert.equal(r.body.history.length, 3);
  // The whole machine: open -> pending -> open -> solved -> open (reopened) -> closed -> open -> closed.
  for (const s of ['pending', 'open', 'solved', 'open', 'closed', 'open', 'closed']) {
    r = await p({ status: s }, 'bob');
    assert.equal(r.status, 200, s);
    assert.equal(r.body.status, s);
  }
  for (const s of ['new', 'pending', 'solved']) {
    r = await p({ status: s });
    assert.equal(r.status, 409, `closed -> ${s}`);
  }
  // Every refusal from every status, on a fresh case walked new -> open -> pending -> solved -> closed.
  const moves = { new: ['open', 'pending', 'solved', 'closed'], open: ['pending', 'solved', 'closed'],
    pending: ['open', 'solved', 'closed'], solved: ['open', 'closed'], closed: ['open'] };
  const c = refs.c;
  for (const [from, allowed] of Object.entries(moves)) {
    if (from !== 'new') {
      const s = await api(`/api/v1/cases/${c}`, { method: 'PATCH', body: { status: from } });
      assert.equal(s.status, 200, `-> ${from}`);
    }
    for (const to of ['new', 'open', 'pending', 'solved', 'closed']) {
      if (to === from || allowed.includes(to)) continue;
      const s = await api(`/api/v1/cases/${c}`, { method: 'PATCH', body: { status: to } });
      assert.equal(s.status, 409, `${from} -> ${to}`);
    }
    assert.equal((await api(`/api/v1/cases/${c}`)).body.status, from);
  }
  // Unassign; unknown and disabled assignees are 422; bad bodies 400; unknown cases 404.
  r = await p({ assignee: null });
  assert.equal(r.status, 200);
  assert.equal(r.body.assignee, null);
  assert.equal((await p({ assignee: 'nobody-here' })).status, 422);
  assert.equal(kb(['--db', db, 'user', 'disable', 'zoe']).status, 0);
  r = await p({ assignee: 'zoe' });
  assert.equal(r.status, 422);
  assert.equal(r.body.error.code, 'unknown_assignee');
  for (const bad of [{}, { status: 'lost' }, { status: 3 }, { assignee: 42 }, { assignee: '' },
    { status: 'open', color: 'red' }, '[]', 'not json', { assignee: 'x'.repeat(65) }]) {
    const s = await p(bad);
    assert.equal(s.status, 400, JSON.stringify(bad));
    assert.equal(s.body.error.code, 'invalid_body');
  }
  const wrongType = await getJSON(srv.base, `/api/v1/cases/${ref}`, { method: 'PATCH',
    headers: { cookie: sessions.alice.cookie, 'x-csrf-token': sessions.alice.csrf, 'content-type': 'text/plain' },
    body: '{"status":"open"}' });
  assert.equal(wrongType.status, 400);
  assert.equal((await api('/api/v1/cases/KB-2026-999999', { method: 'PATCH', body: { status: 'open' } })).status, 404);
  // A login given in another case is the user's own.
  r = await p({ assignee: 'BOB' });
  assert.equal(r.body.assignee, 'bob');
});

test('assignee=me, none and a login', async () => {
  await api(`/api/v1/cases/${refs.b}`, { method: 'PATCH', body: { assignee: 'alice' } });
  const refsOf = async (qs, who = 'alice') => (await api('/api/v1/cases?' + qs, { who })).body.cases.map((x) => x.ref);
  assert.deepEqual(await refsOf('assignee=me'), [refs.b]);
  assert.deepEqual(await refsOf('assignee=me', 'bob'), [refs.a]);
  assert.deepEqual(await refsOf('assignee=none'), [refs.c]);
  assert.deepEqual(await refsOf('assignee=bob'), [refs.a]);
  assert.deepEqual(await refsOf('assignee=nobody-here'), []);
  assert.deepEqual(await refsOf('assignee=me&status=closed'), []);
  const mine = await api('/api/v1/cases?assignee=me');
  assert.equal(mine.body.cases[0].assignee, 'alice');
  // A token is nobody: assignee=me means nothing for it.
  assert.equal((await api('/api/v1/cases?assignee=me', { who: 'token' })).status, 400);
});

test('notes: 201, bounded, kept as typed', async () => {
  const n = (text, who = 'alice') => api(`/api/v1/cases/${refs.b}/notes`, { method: 'POST', body: { text }, who });
  let r = await n(`Rappelée à 14 h ${XSS_SCRIPT} ${XSS_IMG}`);
  assert.equal(r.status, 201);
  assert.equal(r.body.author, 'alice');
  assert.equal(r.body.text, `Rappelée à 14 h ${XSS_SCRIPT} ${XSS_IMG}`);
  assert.match(r.body.at, /Z$/);
  assert.equal((await n('é'.repeat(2000))).status, 201, '4000 bytes');
  assert.equal((await n('x'.repeat(4001))).status, 400);
  assert.equal((await n('')).status, 400);
  for (const bad of [{}, { text: 5 }, { text: 'a', extra: 1 }]) {
    const s = await api(`/api/v1/cases/${refs.b}/notes`, { method: 'POST', body: bad });
    assert.equal(s.status, 400);
  }
  assert.equal((await api('/api/v1/cases/KB-2026-999999/notes', { method: 'POST', body: { text: 'x' } })).status, 404);
  r = await api(`/api/v1/cases/${refs.b}`);
  assert.equal(r.body.notes.length, 2);
  assert.equal(r.body.notes[0].text, `Rappelée à 14 h ${XSS_SCRIPT} ${XSS_IMG}`);
  assert.deepEqual(r.body.history.at(-1).change, 'note');
});

test('linked articles: public or internal published; reuse counts for editors', async () => {
  const l = (slug, ref = refs.a) => api(`/api/v1/cases/${ref}/articles`, { method: 'POST', body: { slug } });
  let r = await l('garantie-constructeur');
  assert.equal(r.status, 201);
  assert.deepEqual(r.body, { slug: 'garantie-constructeur', title: r.body.title, url: '/a/garantie-constructeur' });
  assert.ok(r.body.title.length > 0);
  assert.equal((await l('garantie-constructeur')).status, 200, 'linked already: no change');
  assert.equal((await l('objection-prix')).status, 201, 'an internal article');
  assert.equal((await l('garantie-constructeur', refs.b)).status, 201);
  r = await l('brouillon-nouveau-modele');
  assert.equal(r.status, 422, 'a draft is not an answer');
  assert.equal(r.body.error.code, 'unknown_article');
  assert.equal((await l('no-such-article')).status, 422);
  assert.equal((await l('Bad Slug!')).status, 400);
  r = await api(`/api/v1/cases/${refs.a}`);
  assert.deepEqual(r.body.linked_articles.map((x) => x.slug), ['garantie-constructeur', 'objection-prix']);
  assert.deepEqual(r.body.history.filter((h) => h.change === 'article').map((h) => h.to),
    ['garantie-constructeur', 'objection-prix']);
  // Editors see how many cases an article answered; agents may not ask.
  const e = await api('/api/v1/articles/garantie-constructeur/cases', { who: 'eve' });
  assert.equal(e.status, 200);
  assert.deepEqual(e.body, { slug: 'garantie-constructeur', cases: 2 });
  assert.deepEqual((await api('/api/v1/articles/plan-entretien/cases', { who: 'eve' })).body,
    { slug: 'plan-entretien', cases: 0 });
  assert.equal((await api('/api/v1/articles/no-such/cases', { who: 'eve' })).status, 404);
  assert.equal((await api('/api/v1/articles/garantie-constructeur/cases')).status, 403);
  // The article route itself is untouched.
  assert.equal((await api('/api/v1/articles/garantie-constructeur', { who: null })).status, 200);
});

test('CSRF: a session needs X-CSRF-Token on PATCH and POST; a bearer token does not', async () => {
  for (const csrf of [false, 'B'.repeat(43), sessions.bob.csrf]) {
    for (const [method, path, body] of [['PATCH', `/api/v1/cases/${refs.c}`, { status: 'closed' }],
      ['POST', `/api/v1/cases/${refs.c}/notes`, { text: 'forged' }],
      ['POST', `/api/v1/cases/${refs.c}/articles`, { slug: 'plan-entretien' }]]) {
      const r = await api(path, { method, body, csrf });
      assert.equal(r.status, 403, `${method} ${path} csrf=${csrf}`);
      assert.equal(r.body.error.code, 'csrf');
    }
  }
  assert.doesNotMatch(JSON.stringify((await api(`/api/v1/cases/${refs.c}`)).body.notes), /forged/);
  const r = await api(`/api/v1/cases/${refs.c}`, { method: 'PATCH', who: 'token', body: { assignee: 'bob' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.assignee, 'bob');
  assert.equal(r.body.history.at(-1).actor, 'token:crm-bridge');
  const n = await api(`/api/v1/cases/${refs.c}/notes`, { method: 'POST', who: 'token', body: { text: 'from the CRM' } });
  assert.equal(n.status, 201);
  assert.equal(n.body.author, 'token:crm-bridge');
  assert.equal((await api('/api/v1/cases', { who: 'token' })).body.total, 3);
});

test('the inbox page: filters and search without JavaScript, paging links, the header link', async () => {
  const r = await page('/agent/cases?lang=fr');
  assert.equal(r.status, 200);
  assert.match(r.text, /<a class="cases-link" href="\/agent\/cases\?lang=fr">Dossiers<\/a>/);
  for (const ref of Object.values(refs)) assert.match(r.text, new RegExp(`href="/agent/cases/${ref}\\?lang=fr"`));
  assert.match(r.text, /3 dossiers/);
  const mine = await page('/agent/cases?lang=en&assignee=me');
  assert.match(mine.text, new RegExp(refs.b));
  assert.doesNotMatch(mine.text, new RegExp(refs.a));
  assert.match(mine.text, /<option value="me" selected>Assigned to me<\/option>/);
  const found = await page('/agent/cases?lang=fr&q=' + q('DUPONT'));
  assert.match(found.text, /1 dossier/);
  assert.match(found.text, new RegExp(refs.a));
  assert.match(found.text, /id="case-q" name="q" type="search" value="DUPONT"/);
  const solved = await page('/agent/cases?lang=fr&status=solved');
  assert.match(solved.text, /Aucun dossier ne correspond/);
  for (const p_ of [r, mine, found, solved]) assert.match(p_.text, /^<!doctype html>/, 'nothing before the doctype');
  assert.equal((await page('/agent/cases?status=lost')).status, 400);
  assert.equal((await page('/agent/cases?assignee=someone')).status, 400);
  // Escaped, everywhere: subjects and names of the list.
  assert.ok(!r.text.includes(XSS_SCRIPT) && !r.text.includes('<img src=x'), 'nothing from a case renders as markup');
  assert.match(r.text, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
  assert.match(r.text, /&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt;/);
});

test('the case page: contact, consent, transcript, suggested articles, history; everything escaped', async () => {
  const r = await page(`/agent/cases/${refs.b}?lang=fr`);
  assert.equal(r.status, 200);
  assert.match(r.text, /^<!doctype html>/, 'nothing before the doctype');
  assert.ok(!r.text.includes(XSS_SCRIPT), 'no raw <script> from the case');
  assert.ok(!r.text.includes('<img src=x'), 'no raw <img> from the case');
  assert.ok(!/onerror=alert\(1\)>/.test(r.text));
  assert.match(r.text, /<p class="case-subject">&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/p>/);
  assert.match(r.text, /<dd>&quot;&gt;&lt;img src=x onerror=alert\(1\)&gt; &lt;script&gt;/);
  assert.match(r.text, /<p class="note-text">Rappelée à 14 h &lt;script&gt;alert\(1\)&lt;\/script&gt; &quot;&gt;&lt;img/);
  assert.match(r.text, /marie\.curie@example\.org/);
  assert.match(r.text, /Consentement<\/dt><dd><time datetime="[^"]+">[^<]+<\/time> — « Pour transmettre votre demande/);
  assert.match(r.text, /<span class="who">Client<\/span>/);
  // Case a: the articles the bot showed, each with a "link" button unless linked already.
  const a = await page(`/agent/cases/${refs.a}?lang=en`);
  const suggested = caseShow(refs.a).articles;
  for (const art of suggested) assert.ok(a.text.includes(`href="${art.url}"`), art.url);
  assert.match(a.text, /Case status/);
  assert.match(a.text, /<td>bob<\/td><td>Status<\/td><td>Closed<\/td><td class="history-to">Open<\/td>/);
  assert.equal((await page('/agent/cases/KB-2026-999999')).status, 404);
  assert.equal((await page('/agent/cases/nope')).status, 404);
});

test('the case page\'s forms without JavaScript: CSRF, assign to me, moves, notes, links, 303 back', async () => {
  const ref = refs.c;
  let r = await page(`/agent/cases/${ref}?lang=fr`);
  const csrf = r.text.match(/name="csrf" value="([A-Za-z0-9_-]{43})"/)[1];
  assert.equal(csrf, sessions.alice.csrf);
  // The status buttons are the allowed moves of its status.
  const status = (await api(`/api/v1/cases/${ref}`)).body.status;
  const buttons = [...r.text.matchAll(/<button type="submit" name="status" value="(\w+)">/g)].map((m) => m[1]);
  assert.deepEqual(buttons, { new: ['open', 'pending', 'solved', 'closed'], open: ['pending', 'solved', 'closed'],
    pending: ['open', 'solved', 'closed'], solved: ['open', 'closed'], closed: ['open'] }[status]);
  // Without the token, or with another's: 403, nothing written.
  for (const token_ of [undefined, 'x', sessions.bob.csrf]) {
    const form = { text: 'no token' };
    if (token_) form.csrf = token_;
    r = await page(`/agent/cases/${ref}/notes?lang=fr`, { form });
    assert.equal(r.status, 403);
  }
  assert.doesNotMatch(JSON.stringify((await api(`/api/v1/cases/${ref}`)).body.notes), /no token/);
  // Assign to me.
  r = await page(`/agent/cases/${ref}?lang=fr`);
  assert.match(r.text, /<input type="hidden" name="assignee" value="alice">/);
  r = await page(`/agent/cases/${ref}/assign?lang=fr`, { form: { csrf, assignee: 'alice' } });
  assert.equal(r.status, 303);
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&done=assignee`);
  r = await page(r.headers.get('location'));
  assert.match(r.text, /<p class="notice" role="status">Attribution modifiée.<\/p>/);
  assert.match(r.text, /<option value="alice" selected>Alice Martin \(alice\)<\/option>/);
  assert.doesNotMatch(r.text, /value="zoe"/, 'a disabled user is not offered');
  // Moves: allowed, then refused (303 back with the reason).
  const cur = (await api(`/api/v1/cases/${ref}`)).body.status;
  const allowed = cur === 'closed' ? 'open' : 'closed';
  r = await page(`/agent/cases/${ref}/status?lang=en`, { form: { csrf, status: allowed } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=en&done=status`);
  r = await page(`/agent/cases/${ref}/status?lang=en`, { form: { csrf, status: 'new' } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=en&error=move`);
  r = await page(r.headers.get('location'));
  assert.match(r.text, /<p class="error" role="alert">This status change is not allowed from the current status.<\/p>/);
  // A note, an unknown agent, a link.
  r = await page(`/agent/cases/${ref}/notes?lang=fr`, { form: { csrf, text: `Note ${XSS_IMG}` } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&done=note`);
  r = await page(`/agent/cases/${ref}/notes?lang=fr`, { form: { csrf, text: '' } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&error=note`);
  r = await page(`/agent/cases/${ref}/assign?lang=fr`, { form: { csrf, assignee: 'ghost' } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&error=assignee`);
  r = await page(`/agent/cases/${ref}/articles?lang=fr`, { form: { csrf, slug: 'plan-entretien' } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&done=article`);
  r = await page(`/agent/cases/${ref}/articles?lang=fr`, { form: { csrf, slug: 'plan-entretien' } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&done=none`);
  r = await page(`/agent/cases/${ref}/unknown?lang=fr`, { form: { csrf } });
  assert.equal(r.status, 404);
  // Unassign with the select's "nobody".
  r = await page(`/agent/cases/${ref}/assign?lang=fr`, { form: { csrf, assignee: '' } });
  assert.equal(r.headers.get('location'), `/agent/cases/${ref}?lang=fr&done=assignee`);
  const after_ = (await api(`/api/v1/cases/${ref}`)).body;
  assert.equal(after_.assignee, null);
  assert.equal(after_.notes.at(-1).text, `Note ${XSS_IMG}`);
  assert.ok(after_.linked_articles.some((x) => x.slug === 'plan-entretien'));
  // done= and error= only ever show the theme's sentences.
  r = await page(`/agent/cases/${ref}?lang=fr&done=${q('<b>hi</b>')}&error=zzz`);
  assert.doesNotMatch(r.text, /class="notice"|class="error"/);
});

test('the CRM receives case.created, then a signed case.updated for every change', async () => {
  const history = {};
  for (const [k, ref] of Object.entries(refs)) history[k] = (await api(`/api/v1/cases/${ref}`)).body.history;
  const expected = Object.values(history).reduce((n, h) => n + h.length, 0);
  await crm.waitFor((r) => r.events.length >= expected, 20000);
  assert.ok(crm.requests.every((x) => x.verified), 'every signature verifies');
  assert.equal(new Set(crm.events.map((e) => e._id)).size, crm.events.length, 'distinct webhook-ids');
  for (const [k, ref] of Object.entries(refs)) {
    const evs = crm.events.filter((e) => e.data.ref === ref);
    assert.equal(evs[0].type, 'case.created', ref);
    assert.ok(evs.slice(1).every((e) => e.type === 'case.updated'));
    // One event per change, in the order of the history, describing it.
    assert.deepEqual(evs.slice(1).map((e) => [e.data.change.field, e.data.change.from, e.data.change.to]),
      history[k].slice(1).map((h) => [h.change, h.from, h.to]), ref);
    const last = evs.at(-1).data;
    const now = (await api(`/api/v1/cases/${ref}`)).body;
    assert.equal(last.status, now.status);
    assert.equal(last.assignee, now.assignee);
    const { assignee, change, ...base } = last;
    void assignee; void change;
    assert.deepEqual(Object.keys(base).sort(), Object.keys(caseShow(ref)).sort(),
      'the case JSON of the contract, plus assignee and change');
    assert.ok(!('notes' in last) && !('history' in last));
  }
  const note = crm.events.find((e) => e.data.change?.field === 'note' && e.data.ref === refs.b);
  assert.equal(note.data.change.to, `Rappelée à 14 h ${XSS_SCRIPT} ${XSS_IMG}`);
  // kb case show still works and lists every delivery.
  const text = spawnSync(KB, ['--db', db, 'case', 'show', refs.a], { encoding: 'utf8' });
  assert.equal(text.status, 0);
  assert.match(text.stdout, new RegExp(`case ${refs.a} \\(closed\\)`));
  assert.match(text.stdout, /HTTP 200: delivered/);
});

test('kb audit: case.read, case.update, case.note, case.link, with the actor', () => {
  const r = kb(['--db', db, 'audit']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`alice\\s+case\\.read\\s+${refs.a}`));
  assert.match(r.stdout, new RegExp(`alice\\s+case\\.update\\s+${refs.a}\\s+127\\.0\\.0\\.1 status=open assignee=alice`));
  assert.match(r.stdout, new RegExp(`bob\\s+case\\.update\\s+${refs.a}`));
  assert.match(r.stdout, new RegExp(`alice\\s+case\\.note\\s+${refs.b}`));
  assert.match(r.stdout, new RegExp(`alice\\s+case\\.link\\s+${refs.a}\\s+127\\.0\\.0\\.1 garantie-constructeur`));
  assert.match(r.stdout, new RegExp(`token:crm-bridge\\s+case\\.update\\s+${refs.c}`));
  assert.doesNotMatch(r.stdout, /Rappelée|onerror/, 'no note text, no customer data in the audit log');
});

// ---- in a browser: no JavaScript needed, no script error under the CSP, axe-core -------

const CHROMIUM = '/usr/bin/chromium';
let chromium, axeSource, skip = '';
try {
  ({ chromium } = await import('playwright-core'));
  axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
} catch (e) {
  skip = 'playwright-core or axe-core not installed (npm ci in tests/integration): ' + e.message;
}
if (!skip && !existsSync(CHROMIUM)) skip = 'Debian chromium is not installed';

async function withBrowser(fn) {
  const browser = await chromium.launch({ executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'] });
  try { await fn(browser); } finally { await browser.close(); }
}

async function signedIn(browser, opts) {
  const context = await browser.newContext(opts);
  const [name, value] = sessions.alice.cookie.split('=');
  const url = new URL(srv.base);
  await context.addCookies([{ name, value, domain: url.hostname, path: '/', httpOnly: true, sameSite: 'Strict' }]);
  return context;
}

test('in chromium: the forms work without JavaScript, and the pages raise no error with it', async (t) => {
  // Never a skip: a browser test without its browser fails (CI must not pass without it).
  if (skip) throw new Error(skip);
  await withBrowser(async (browser) => {
    const noJs = await signedIn(browser, { javaScriptEnabled: false });
    const p = await noJs.newPage();
    await p.goto(`${srv.base}/agent/cases?lang=fr`);
    await p.selectOption('#case-status', 'new');
    await p.click('.case-filters button[type="submit"]');
    await p.waitForURL(/status=new/);
    await p.goto(`${srv.base}/agent/cases/${refs.b}?lang=fr`);
    await p.fill('#note-text', 'Écrit sans JavaScript');
    await p.click('text=Ajouter la note');
    await p.waitForURL(/done=note/);
    assert.match(await p.locator('.notes').textContent(), /Écrit sans JavaScript/);
    await p.click('button[name="status"][value="pending"]');
    await p.waitForURL(/done=status/);
    assert.match(await p.locator('#case-title').textContent(), /En attente/);
    await noJs.close();
    // With JavaScript: cases.js loads under the CSP; a select applies itself.
    const js = await signedIn(browser);
    const q_ = await js.newPage();
    const errors = [];
    q_.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    q_.on('pageerror', (e) => errors.push(String(e)));
    await q_.goto(`${srv.base}/agent/cases?lang=en`);
    await Promise.all([q_.waitForURL(/status=pending/), q_.selectOption('#case-status', 'pending')]);
    assert.match(await q_.locator('.cases-table').textContent(), new RegExp(refs.b));
    await q_.goto(`${srv.base}/agent/cases/${refs.a}?lang=en`);
    await q_.locator('#link-slug').pressSequentially('garantie', { delay: 20 });
    await q_.waitForFunction(() => document.querySelectorAll('#link-slugs option').length > 0, null, { timeout: 5000 });
    assert.deepEqual(errors, []);
    await js.close();
  });
});

test('in chromium: no serious accessibility violation on the case pages (axe-core)', async (t) => {
  // Never a skip: a browser test without its browser fails (CI must not pass without it).
  if (skip) throw new Error(skip);
  await withBrowser(async (browser) => {
    const context = await signedIn(browser, { bypassCSP: true });
    for (const path of ['/agent/cases?lang=fr', '/agent/cases?lang=en&q=example',
      `/agent/cases/${refs.a}?lang=fr`, `/agent/cases/${refs.b}?lang=en&error=move`]) {
      const p = await context.newPage();
      await p.goto(srv.base + path);
      await p.addScriptTag({ content: axeSource });
      const result = await p.evaluate(async () => await window.axe.run());
      const serious = result.violations.filter((v) => ['serious', 'critical'].includes(v.impact));
      assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes[0]?.target}`), [], path);
      await p.close();
    }
    await context.close();
  });
});
