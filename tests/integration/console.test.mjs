// tests/integration/console.test.mjs: the agents' console against the real server, through
// its JSON API and its pages without a browser: every search result's audience (and status
// for editors), the search filters (tag, audience, category, lang, prefix) within the
// caller's scope, internal companions, flags (201, 400, 401, 403, the editors' list and
// page, handled), recent and pinned articles kept per agent and never shown to another,
// /agent?q= for a telephony screen-pop, roles (anonymous 401 or the login page, an agent 403
// on the editors' routes), CSRF, and markup from articles and flags kept inert.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { KB, kb, startServer, q } from './lib.mjs';
import {
  consoleContent, addUsers, login, apiAs, pageAs, SECRET_WORD, XSS_SCRIPT,
} from './consolelib.mjs';

let srv, db, token;
const s = {}; // sessions: alice, bob (agents), eve (editor)

const sql = (text) => spawnSync('sqlite3', [db, text], { encoding: 'utf8' }).stdout.trim();
const api = (who, path, opts) => apiAs(srv.base, who, path, opts);
const page = (who, path, form) => pageAs(srv.base, who, path, form);

before(async () => {
  const c = consoleContent();
  db = c.db;
  assert.equal(kb(['--db', db, 'import', c.content]).status, 0);
  addUsers(db, [['alice', 'agent', 'Alice Martin'], ['bob', 'agent', 'Bob'],
    ['eve', 'editor', 'Ève']]);
  const t = kb(['--db', db, 'token', 'add', 'telephony', '--role', 'agent']);
  assert.equal(t.status, 0, t.stderr);
  token = { token: t.stdout.trim() };
  srv = await startServer({ dir: c.dir, importFirst: false });
  for (const n of ['alice', 'bob', 'eve']) s[n] = await login(srv.base, n);
});

after(async () => { await srv?.stop(); });

test('roles: anonymous callers get 401 on the console API and the login page for its pages', async () => {
  for (const [method, path, body] of [['GET', '/api/v1/agent/recent'],
    ['POST', '/api/v1/agent/recent', { slug: 'vehicle-recall' }], ['GET', '/api/v1/agent/pins'],
    ['POST', '/api/v1/agent/pins', { slug: 'vehicle-recall' }],
    ['DELETE', '/api/v1/agent/pins/vehicle-recall'], ['GET', '/api/v1/agent/filters'],
    ['POST', '/api/v1/articles/vehicle-recall/flags', { reason: 'wrong', comment: 'x' }],
    ['GET', '/api/v1/flags'], ['PATCH', '/api/v1/flags/1', { status: 'handled' }]]) {
    const r = await api(null, path, { method, body });
    assert.equal(r.status, 401, `${method} ${path}`);
    assert.equal(r.body.error.code, 'unauthenticated');
  }
  for (const path of ['/agent', '/agent?q=garantie', '/agent/flags']) {
    const r = await page(null, path);
    assert.equal(r.status, 303, path);
    assert.equal(r.headers.get('location'), '/login?next=' + q(path.split('?')[0]));
  }
  const post = await page(null, '/agent/flags/1', { status: 'handled', csrf: 'x' });
  assert.equal(post.status, 303);
});

test('roles: an agent gets 403 on the editors\' routes, an editor gets them', async () => {
  for (const [method, path, body] of [['GET', '/api/v1/flags'],
    ['PATCH', '/api/v1/flags/1', { status: 'handled' }]]) {
    const r = await api(s.alice, path, { method, body });
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.body.error.code, 'forbidden');
  }
  assert.equal((await page(s.alice, '/agent/flags')).status, 403);
  assert.equal((await page(s.alice, '/agent/flags/1', { status: 'handled', csrf: s.alice.csrf })).status, 403);
  assert.equal((await api(s.eve, '/api/v1/flags')).status, 200);
  assert.equal((await page(s.eve, '/agent/flags')).status, 200);
  assert.equal((await page(s.alice, '/agent')).status, 200);
  assert.equal((await page(s.eve, '/agent')).status, 200);
});

test('every search result carries its audience; agents also get internal ones, anonymous callers never', async () => {
  const anon = await api(null, '/api/v1/search?q=' + q('recall campaign') + '&lang=en');
  assert.equal(anon.status, 200);
  assert.ok(anon.body.results.length > 0);
  for (const h of anon.body.results) {
    assert.equal(h.audience, 'public', h.slug);
    assert.equal('status' in h, false, 'no status outside the editors\' scope');
  }
  assert.ok(!anon.body.results.some((h) => h.slug === 'handling-recall-calls'));
  const agent = await api(s.alice, '/api/v1/search?q=' + q('recall campaign') + '&lang=en');
  const bySlug = Object.fromEntries(agent.body.results.map((h) => [h.slug, h]));
  assert.equal(bySlug['vehicle-recall'].audience, 'public');
  assert.equal(bySlug['handling-recall-calls'].audience, 'internal');
  for (const h of agent.body.results) assert.equal('status' in h, false);
  // The secret word: found by an agent (and a token of role agent), by nobody else.
  const secret = '/api/v1/search?q=' + SECRET_WORD;
  assert.equal((await api(null, secret)).body.total, 0);
  assert.deepEqual((await api(s.alice, secret)).body.results.map((h) => [h.slug, h.audience]),
    [['zorglubium-pricing', 'internal']]);
  assert.equal((await api(token, secret)).body.results[0].slug, 'zorglubium-pricing');
});

test('editors also get drafts, each result with its status', async () => {
  const path = '/api/v1/search?q=' + q('Aurore Lumen') + '&lang=fr';
  assert.ok(!(await api(s.alice, path)).body.results.some((h) => h.slug === 'brouillon-nouveau-modele'));
  const r = await api(s.eve, path);
  const draft = r.body.results.find((h) => h.slug === 'brouillon-nouveau-modele');
  assert.ok(draft, 'the editor finds the draft');
  assert.equal(draft.status, 'draft');
  assert.equal(draft.audience, 'public');
  for (const h of r.body.results) assert.ok(['draft', 'review', 'published', 'archived'].includes(h.status));
  const pub = await api(s.eve, '/api/v1/search?q=' + q('recall campaign') + '&lang=en');
  assert.equal(pub.body.results.find((h) => h.slug === 'handling-recall-calls').status, 'published');
});

test('filters: audience, tag, category and lang narrow the caller\'s scope, never widen it', async () => {
  const base = '/api/v1/search?lang=en&limit=50&q=' + q('customer');
  const all = (await api(s.alice, base)).body.results;
  assert.ok(all.some((h) => h.audience === 'internal') && all.some((h) => h.audience === 'public'));
  const internal = (await api(s.alice, base + '&audience=internal')).body;
  assert.ok(internal.results.length > 0);
  assert.ok(internal.results.every((h) => h.audience === 'internal'));
  assert.equal(internal.total, all.filter((h) => h.audience === 'internal').length);
  const pub = (await api(s.alice, base + '&audience=public')).body.results;
  assert.ok(pub.length > 0 && pub.every((h) => h.audience === 'public'));
  // An anonymous caller asking for internal articles gets none.
  const anon = await api(null, '/api/v1/search?q=' + SECRET_WORD + '&audience=internal');
  assert.equal(anon.status, 200);
  assert.equal(anon.body.total, 0);
  assert.deepEqual(anon.body.results, []);
  // Sales reps filter argumentation by product tag.
  const tagged = (await api(s.alice, '/api/v1/search?q=' + q('margin') + '&tag=zorglubium-trim')).body;
  assert.deepEqual(tagged.results.map((h) => h.slug), ['zorglubium-pricing']);
  const sales = (await api(s.alice, '/api/v1/search?lang=en&q=' + q('customer price') + '&tag=sales')).body;
  assert.ok(sales.results.length >= 2);
  for (const h of sales.results) {
    const a = await api(s.alice, '/api/v1/articles/' + h.slug);
    assert.ok(a.body.tags.includes('sales'), h.slug);
  }
  assert.equal((await api(null, '/api/v1/search?q=margin&tag=zorglubium-trim')).body.total, 0);
  // Category and language.
  const cat = (await api(s.alice, '/api/v1/search?q=' + q('procedure') + '&category=' + q('Internal procedures'))).body;
  assert.ok(cat.results.length > 0);
  assert.ok(cat.results.every((h) => h.category === 'Internal procedures'));
  const fr = (await api(s.alice, '/api/v1/search?q=' + q('rappel recall') + '&lang=fr')).body;
  assert.ok(fr.results.length > 0 && fr.results.every((h) => h.lang === 'fr'));
  // Bad values: 400, with the limits of the route table.
  for (const bad of ['audience=secret', 'prefix=2', 'tag=' + 'x'.repeat(201), 'audience=' + 'x'.repeat(9)]) {
    const r = await api(s.alice, '/api/v1/search?q=a&' + bad);
    assert.equal(r.status, 400, bad);
    assert.equal(r.body.error.code, 'invalid_parameter');
  }
});

test('search as you type: prefix=1 completes the last word and is not logged', async () => {
  const before = Number(sql('SELECT count(*) FROM search_log'));
  const typed = await api(s.alice, '/api/v1/search?lang=en&prefix=1&q=' + q('handling rec'));
  assert.equal(typed.status, 200);
  assert.equal(typed.body.results[0].slug, 'handling-recall-calls');
  assert.equal('search_id' in typed.body, false, 'a word being typed is not a search someone made');
  const whole = await api(s.alice, '/api/v1/search?lang=en&prefix=0&q=' + q('handling recall'));
  assert.match(whole.body.search_id, /^\d+\.[0-9a-f]+$/);
  // The log is written in the background: the whole query arrives, the prefix one never.
  for (let i = 0; i < 50 && Number(sql('SELECT count(*) FROM search_log')) === before; i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(sql("SELECT group_concat(query, '|') FROM search_log WHERE id > " +
    `(SELECT coalesce(max(id), 0) - 1 FROM search_log WHERE query = 'handling recall')`), 'handling recall');
  assert.equal(sql("SELECT count(*) FROM search_log WHERE query = 'handling rec'"), '0');
});

test('the article: audience, status, translations, and its internal companions in the caller\'s scope', async () => {
  const a = await api(s.alice, '/api/v1/articles/vehicle-recall');
  assert.equal(a.status, 200);
  assert.equal(a.body.audience, 'public');
  assert.equal(a.body.status, 'published');
  assert.deepEqual(a.body.companions.map((c) => [c.slug, c.audience]), [['handling-recall-calls', 'internal']]);
  assert.deepEqual(a.body.translations.map((t) => t.slug), ['rappel-vehicule']);
  // The link works both ways: the procedure names the public article; here the internal
  // article names the public one, and the public one shows it.
  const m = await api(s.alice, '/api/v1/articles/markup-article');
  assert.deepEqual(m.body.companions.map((c) => c.slug), ['zorglubium-pricing']);
  const anon = await api(null, '/api/v1/articles/vehicle-recall');
  assert.deepEqual(anon.body.companions, [], 'nothing internal for an anonymous reader');
  assert.deepEqual((await api(null, '/api/v1/articles/markup-article')).body.companions, []);
  assert.equal((await api(null, '/api/v1/articles/zorglubium-pricing')).status, 404);
  const internal = await api(s.alice, '/api/v1/articles/zorglubium-pricing');
  assert.equal(internal.body.audience, 'internal');
  assert.match(internal.body.text, /4% dealer margin/);
  assert.doesNotMatch(internal.body.text, /[<>]/, 'the answer to copy is plain text');
  // see_also is a known key: kb check reports no unknown key for it.
  const check = spawnSync(KB, ['check', process.env.KB_CONTENT], { encoding: 'utf8' });
  assert.doesNotMatch(check.stdout + check.stderr, /see_also/);
});

test('filters offered: categories, tags and languages of the caller\'s scope', async () => {
  const r = await api(s.alice, '/api/v1/agent/filters');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.audiences, ['public', 'internal']);
  assert.deepEqual(r.body.langs, ['en', 'fr']);
  assert.ok(r.body.categories.some((c) => c.name === 'Internal procedures' && c.lang === 'en'));
  assert.ok(r.body.tags.some((t) => t.name === 'zorglubium-trim' && t.count === 1));
  const counts = r.body.tags.map((t) => t.count);
  assert.deepEqual(counts, [...counts].sort((x, y) => y - x), 'the most used tags first');
  // An editor's scope holds the draft's tag too; an agent's does not.
  assert.ok(!r.body.tags.some((t) => t.name === 'lumen'));
  assert.ok((await api(s.eve, '/api/v1/agent/filters')).body.tags.some((t) => t.name === 'lumen'));
});

test('flags: 201 with the contract\'s fields, 400 on a bad body, 404, CSRF, a token', async () => {
  const path = '/api/v1/articles/vehicle-recall/flags';
  const r = await api(s.alice, path, { method: 'POST', body: { reason: 'outdated', comment: 'Step 3 changed in May' } });
  assert.equal(r.status, 201);
  assert.deepEqual(Object.keys(r.body).sort(), ['at', 'author', 'comment', 'handled_at', 'handled_by',
    'id', 'lang', 'reason', 'slug', 'status', 'title', 'url']);
  assert.equal(r.body.slug, 'vehicle-recall');
  assert.equal(r.body.reason, 'outdated');
  assert.equal(r.body.comment, 'Step 3 changed in May');
  assert.equal(r.body.author, 'alice');
  assert.equal(r.body.status, 'open');
  assert.equal(r.body.handled_by, null);
  assert.match(r.body.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // The comment is optional; an internal article can be flagged by an agent.
  const bare = await api(s.bob, '/api/v1/articles/zorglubium-pricing/flags', { method: 'POST', body: { reason: 'missing' } });
  assert.equal(bare.status, 201);
  assert.equal(bare.body.comment, '');
  for (const body of [{}, { reason: 'boring' }, { reason: 'wrong', comment: 42 },
    { reason: 'wrong', comment: 'x'.repeat(2001) }, { reason: 'wrong', extra: 1 }, '[]', 'not json',
    { reason: ['wrong'] }]) {
    const bad = await api(s.alice, path, { method: 'POST', body });
    assert.equal(bad.status, 400, JSON.stringify(body).slice(0, 60));
    assert.equal(bad.body.error.code, 'invalid_body');
  }
  assert.equal((await api(s.alice, '/api/v1/articles/no-such-article/flags', { method: 'POST', body: { reason: 'wrong' } })).status, 404);
  // Without the session's CSRF token, or with a wrong one: 403, nothing stored.
  const n = sql('SELECT count(*) FROM article_flags');
  for (const csrf of [false, 'forged-token']) {
    const f = await api(s.alice, path, { method: 'POST', body: { reason: 'wrong' }, csrf });
    assert.equal(f.status, 403);
    assert.equal(f.body.error.code, 'csrf');
  }
  assert.equal(sql('SELECT count(*) FROM article_flags'), n);
  // A bearer token needs no CSRF token; the flag names it.
  const tok = await api(token, path, { method: 'POST', body: { reason: 'wrong', comment: 'from the CRM' } });
  assert.equal(tok.status, 201);
  assert.equal(tok.body.author, 'token:telephony');
  assert.match(sql("SELECT group_concat(action) FROM audit WHERE action = 'flag.add'"), /flag\.add/);
});

test('flags: the editors\' list (API and page), marking one handled, reopening it', async () => {
  const made = await api(s.alice, '/api/v1/articles/vehicle-recall/flags',
    { method: 'POST', body: { reason: 'wrong', comment: XSS_SCRIPT } });
  assert.equal(made.status, 201);
  const id = made.body.id;
  const open = await api(s.eve, '/api/v1/flags');
  assert.equal(open.status, 200);
  assert.equal(open.body.flags[0].id, id, 'newest first');
  assert.equal(open.body.flags[0].comment, XSS_SCRIPT, 'stored as typed');
  assert.ok(open.body.flags.every((f) => f.status === 'open'));
  assert.equal(open.body.total, open.body.flags.length);
  // The page lists it with the comment escaped, and a form carrying the session's token.
  const p = await page(s.eve, '/agent/flags?lang=en');
  assert.equal(p.status, 200);
  assert.ok(!p.text.includes(XSS_SCRIPT));
  assert.ok(p.text.includes('&lt;script&gt;window.__xss = 1&lt;/script&gt;'));
  assert.match(p.text, new RegExp(`action="/agent/flags/${id}\\?lang=en"`));
  assert.ok(p.text.includes(`name="csrf" value="${s.eve.csrf}"`));
  // The form without its token: 403, nothing changes; with it: 303 back to the list.
  assert.equal((await page(s.eve, `/agent/flags/${id}?lang=en`, { status: 'handled', csrf: 'x' })).status, 403);
  assert.equal(sql(`SELECT status FROM article_flags WHERE id = ${id}`), 'open');
  const done = await page(s.eve, `/agent/flags/${id}?lang=en`, { status: 'handled', csrf: s.eve.csrf });
  assert.equal(done.status, 303);
  assert.equal(done.headers.get('location'), '/agent/flags?lang=en&status=open');
  assert.ok(!(await api(s.eve, '/api/v1/flags')).body.flags.some((f) => f.id === id));
  const handled = (await api(s.eve, '/api/v1/flags?status=handled')).body.flags.find((f) => f.id === id);
  assert.equal(handled.status, 'handled');
  assert.equal(handled.handled_by, 'eve');
  assert.match(handled.handled_at, /Z$/);
  // The API: reopen, then handled again; 404 and 400.
  const re = await api(s.eve, `/api/v1/flags/${id}`, { method: 'PATCH', body: { status: 'open' } });
  assert.equal(re.status, 200);
  assert.equal(re.body.status, 'open');
  const h2 = await api(s.eve, `/api/v1/flags/${id}`, { method: 'PATCH', body: { status: 'handled' } });
  assert.equal(h2.body.status, 'handled');
  assert.equal((await api(s.eve, '/api/v1/flags/999999', { method: 'PATCH', body: { status: 'handled' } })).status, 404);
  assert.equal((await api(s.eve, '/api/v1/flags/abc', { method: 'PATCH', body: { status: 'handled' } })).status, 404);
  assert.equal((await api(s.eve, `/api/v1/flags/${id}`, { method: 'PATCH', body: { status: 'done' } })).status, 400);
  assert.equal((await api(s.eve, `/api/v1/flags/${id}`, { method: 'PATCH', body: { status: 'open' }, csrf: false })).status, 403);
  assert.equal((await api(s.eve, '/api/v1/flags?status=maybe')).status, 400);
  const all = (await api(s.eve, '/api/v1/flags?status=all&limit=100')).body;
  assert.equal(all.total, Number(sql('SELECT count(*) FROM article_flags')));
  assert.match(sql("SELECT group_concat(action) FROM audit WHERE target = 'flag:" + id + "'"), /flag\.handled.*flag\.open.*flag\.handled/);
});

test('recent and pinned articles are kept per agent, never shown to another', async () => {
  const post = (who, what, slug) => api(who, '/api/v1/agent/' + what, { method: 'POST', body: { slug } });
  assert.equal((await post(s.alice, 'pins', 'vehicle-recall')).status, 201);
  assert.equal((await post(s.alice, 'pins', 'vehicle-recall')).status, 200, 'pinned already');
  assert.equal((await post(s.alice, 'pins', 'zorglubium-pricing')).status, 201);
  assert.equal((await post(s.bob, 'pins', 'price-objection')).status, 201);
  assert.equal((await post(s.alice, 'recent', 'handling-recall-calls')).status, 201);
  assert.equal((await post(s.alice, 'recent', 'vehicle-recall')).status, 201);
  assert.equal((await post(s.bob, 'recent', 'identity-checks')).status, 201);
  const slugs = async (who, what) => (await api(who, '/api/v1/agent/' + what)).body.articles.map((a) => a.slug);
  assert.deepEqual(await slugs(s.alice, 'pins'), ['zorglubium-pricing', 'vehicle-recall']);
  assert.deepEqual(await slugs(s.bob, 'pins'), ['price-objection']);
  assert.deepEqual(await slugs(s.alice, 'recent'), ['vehicle-recall', 'handling-recall-calls']);
  assert.deepEqual(await slugs(s.bob, 'recent'), ['identity-checks']);
  const item = (await api(s.alice, '/api/v1/agent/pins')).body.articles[0];
  assert.deepEqual(Object.keys(item).sort(), ['at', 'audience', 'lang', 'slug', 'title', 'url']);
  assert.equal(item.audience, 'internal');
  // Viewing again moves an article to the top; the list keeps the 20 newest.
  assert.equal((await post(s.alice, 'recent', 'handling-recall-calls')).status, 201);
  assert.deepEqual((await slugs(s.alice, 'recent'))[0], 'handling-recall-calls');
  const published = sql("SELECT group_concat(slug, ',') FROM (SELECT slug FROM articles " +
    "WHERE status = 'published' AND audience = 'public' ORDER BY id LIMIT 25)").split(',');
  assert.equal(published.length, 25);
  for (const slug of published) assert.equal((await post(s.bob, 'recent', slug)).status, 201, slug);
  const bobRecent = await slugs(s.bob, 'recent');
  assert.equal(bobRecent.length, 20);
  assert.equal(bobRecent[0], published[published.length - 1]);
  // Unpin: 204, then 404; Bob cannot unpin Alice's pins.
  assert.equal((await api(s.bob, '/api/v1/agent/pins/vehicle-recall', { method: 'DELETE' })).status, 404);
  assert.equal((await api(s.alice, '/api/v1/agent/pins/vehicle-recall', { method: 'DELETE' })).status, 204);
  assert.equal((await api(s.alice, '/api/v1/agent/pins/vehicle-recall', { method: 'DELETE' })).status, 404);
  assert.deepEqual(await slugs(s.alice, 'pins'), ['zorglubium-pricing']);
  // Bad bodies, unknown articles, CSRF, a token (nobody: no desk).
  for (const body of [{}, { slug: 'Not A Slug' }, { slug: 'a', x: 1 }, 'nope']) {
    const r = await api(s.alice, '/api/v1/agent/pins', { method: 'POST', body });
    assert.equal(r.status, 400, JSON.stringify(body));
  }
  assert.equal((await post(s.alice, 'pins', 'no-such-article')).status, 404);
  assert.equal((await api(s.alice, '/api/v1/agent/pins', { method: 'POST', body: { slug: 'vehicle-recall' }, csrf: false })).status, 403);
  assert.equal((await api(token, '/api/v1/agent/pins')).status, 403);
  assert.equal((await api(token, '/api/v1/agent/recent')).status, 403);
  // The draft is beyond an agent's scope: not pinnable by Alice, pinnable by the editor,
  // who sees its status.
  assert.equal((await post(s.alice, 'pins', 'brouillon-nouveau-modele')).status, 404);
  assert.equal((await post(s.eve, 'pins', 'brouillon-nouveau-modele')).status, 201);
  assert.equal((await api(s.eve, '/api/v1/agent/pins')).body.articles[0].status, 'draft');
  // An article archived since leaves the agent's list.
  sql("UPDATE articles SET status = 'archived' WHERE slug = 'zorglubium-pricing'");
  assert.deepEqual(await slugs(s.alice, 'pins'), []);
  sql("UPDATE articles SET status = 'published' WHERE slug = 'zorglubium-pricing'");
  assert.deepEqual(await slugs(s.alice, 'pins'), ['zorglubium-pricing']);
});

test('/agent?q=... opens the console with the search: the page shell, escaped', async () => {
  const r = await page(s.alice, '/agent?lang=en&q=' + q('garantie "constructeur" <b>'));
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  assert.ok(r.text.includes('value="garantie &quot;constructeur&quot; &lt;b&gt;"'));
  assert.ok(!r.text.includes('<b>'));
  assert.match(r.text, /<input id="console-q" name="q" type="search" value="[^"]*" autofocus/);
  assert.match(r.text, /<script type="module" src="\/static\/agent\/console.js"><\/script>/);
  assert.ok(r.text.includes(`data-csrf="${s.alice.csrf}"`));
  assert.ok(r.text.includes('href="/agent/cases?lang=en"') && r.text.includes('href="/agent/chats?lang=en"'));
  assert.ok(!r.text.includes('href="/agent/flags'), 'the flags page is the editors\'');
  assert.ok((await page(s.eve, '/agent?lang=en')).text.includes('href="/agent/flags?lang=en"'));
  assert.doesNotMatch(r.text, /<script>/, 'no inline script (CSP)');
  assert.match(r.text, /Keyboard: \/ search/);
  const fr = await page(s.alice, '/agent?lang=fr');
  assert.match(fr.text, /Clavier : \/ recherche/);
  // The modules are served, from static/agent/ only.
  for (const f of ['console.js', 'api.js', 'text.js', 'agent.css']) {
    const m = await page(null, '/static/agent/' + f);
    assert.equal(m.status, 200, f);
  }
  // Paths as sent (fetch would resolve the dots first).
  const raw = (path) => new Promise((resolve, reject) => {
    const u = new URL(srv.base);
    http.get({ host: u.hostname, port: u.port, path }, (res) => { res.resume(); resolve(res.statusCode); })
      .on('error', reject);
  });
  assert.equal(await raw('/static/agent/console.js'), 200);
  for (const path of ['/static/agent/../kb.js', '/static/agent/%2e%2e/kb.js', '/static/agent/.hidden',
    '/static/agent//console.js', '/static/a/b/c.js', '/static/.agent/x.js'])
    assert.equal(await raw(path), 404, path);
});

test('a store from before see_also: the links kept among unknown keys move to their table', async () => {
  // What an older kb left: see_also among the unknown keys (extra), no console tables.
  sql("UPDATE articles SET extra = json_set(extra, '$.see_also', json('[\"vehicle-recall\"]')) " +
    "WHERE slug = 'identity-checks'");
  sql("UPDATE articles SET extra = json_set(extra, '$.see_also', 'vehicle-recall') WHERE slug = 'goodwill-approval-levels'");
  const copy = spawnSync('sqlite3', [db, `.backup ${db}.old`], { encoding: 'utf8' });
  assert.equal(copy.status, 0, copy.stderr);
  const old = db + '.old';
  const r = spawnSync('sqlite3', [old, 'DROP TABLE article_flags; DROP TABLE agent_pins; ' +
    'DROP TABLE agent_recent; DROP TABLE article_links; ' +
    // ... nor the live takeover's columns (migration 10)
    'ALTER TABLE conversations DROP COLUMN agent_id; ALTER TABLE conversations DROP COLUMN waiting_since; ' +
    // ... nor the article counts (migration 11)
    'DROP TRIGGER article_counts_insert; DROP TRIGGER article_counts_update; ' +
    'DROP TRIGGER article_counts_delete; DROP TABLE article_counts; ' +
    'DROP INDEX articles_top; DROP INDEX articles_category; PRAGMA user_version = 8;'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  // Any kb command opening the store migrates it.
  const up = kb(['--db', old, 'case', 'list']);
  assert.equal(up.status, 0, up.stderr);
  const links = spawnSync('sqlite3', [old, "SELECT group_concat(a.slug || '>' || l.slug, ' ') FROM article_links l " +
    "JOIN articles a ON a.id = l.article_id WHERE a.slug IN ('identity-checks', 'goodwill-approval-levels') ORDER BY 1"],
  { encoding: 'utf8' }).stdout.trim();
  assert.match(links, /goodwill-approval-levels>vehicle-recall/);
  assert.match(links, /identity-checks>vehicle-recall/);
  const extra = spawnSync('sqlite3', [old, "SELECT count(*) FROM articles WHERE extra LIKE '%see_also%'"],
    { encoding: 'utf8' }).stdout.trim();
  assert.equal(extra, '0');
});
