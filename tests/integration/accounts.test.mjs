// tests/integration/accounts.test.mjs: accounts as agents and integrations meet them: kb user
// and kb token on the terminal, /login and /logout without JavaScript, the session API, the
// cookie's flags, a new session at every login, sessions ended server side (logout, expiry,
// a disabled user, a new password), login throttling that never says whether a login exists,
// CSRF on the console's API calls, bearer tokens, the scope that follows the role, the audit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { KB, kb, startServer, getJSON, getText, q } from './lib.mjs';

const PW = 'correct horse battery staple';
let srv;

function user(args, password = PW) {
  return spawnSync(KB, ['--db', srv.db, ...args], { input: password + '\n', encoding: 'utf8' });
}
const sql = (s) => spawnSync('sqlite3', [srv.db, s], { encoding: 'utf8' }).stdout.trim();

before(async () => {
  srv = await startServer();
  for (const [login, role, name] of [['alice', 'agent', 'Alice Martin'], ['eve', 'editor', 'Ève'],
    ['paul', 'publisher', 'Paul'], ['ada', 'admin', 'Ada'], ['bob', 'agent', 'Bob']]) {
    const r = user(['user', 'add', login, '--role', role, '--name', name]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`user ${login} added \\(${role}\\)`));
  }
});
after(async () => { await srv.stop(); });

/** POST /api/v1/session; resolves to {status, body, cookie}. */
async function login(name, password = PW) {
  const r = await fetch(srv.base + '/api/v1/session', {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ login: name, password }),
  });
  const cookie = (r.headers.get('set-cookie') || '').split(';')[0];
  return { status: r.status, body: await r.json().catch(() => null), cookie, headers: r.headers };
}

test('kb user: add, list, refusals; the password is never stored', () => {
  const list = kb(['--db', srv.db, 'user', 'list']);
  assert.match(list.stdout, /alice\s+agent\s+Alice Martin/);
  assert.match(list.stdout, /ada\s+admin\s+Ada/);
  assert.equal(user(['user', 'add', 'alice', '--role', 'agent']).status, 1, 'taken');
  assert.equal(user(['user', 'add', 'x', '--role', 'agent'], 'short').status, 1, 'too short');
  assert.equal(user(['user', 'add', 'bad login!', '--role', 'agent']).status, 1);
  assert.equal(user(['user', 'add', 'y', '--role', 'king']).status, 2);
  const hash = sql("SELECT pwhash FROM users WHERE login = 'alice'");
  assert.match(hash, /^\$argon2id\$/);
  assert.ok(!sql('SELECT group_concat(pwhash) FROM users').includes(PW));
});

test('the session API: 201 with the user and a CSRF token, cookie flags, 401 on a wrong pair', async () => {
  const ok = await login('alice');
  assert.equal(ok.status, 201);
  assert.deepEqual(ok.body.user, { login: 'alice', name: 'Alice Martin', role: 'agent' });
  assert.match(ok.body.csrf_token, /^[A-Za-z0-9_-]{43}$/);
  const set = ok.headers.get('set-cookie');
  assert.match(set, /^kb_session=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict$/);
  assert.doesNotMatch(set, /Secure/, 'http here: Secure only behind https');
  const wrong = await login('alice', 'not the password');
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.code, 'unauthenticated');
  const nobody = await login('nobody-here', 'whatever password');
  assert.equal(nobody.status, 401);
  assert.deepEqual(nobody.body, wrong.body, 'an unknown login gets the same answer');
  // The session id is stored hashed only.
  const id = ok.cookie.split('=')[1];
  assert.equal(sql(`SELECT count(*) FROM sessions WHERE id_hash = '${id}'`), '0');
});

test('a new session at every login: a cookie set before does not become a session', async () => {
  const fixed = 'kb_session=' + 'A'.repeat(43);
  const r = await fetch(srv.base + '/api/v1/session', {
    method: 'POST', headers: { 'content-type': 'application/json', cookie: fixed },
    body: JSON.stringify({ login: 'bob', password: PW }),
  });
  assert.equal(r.status, 201);
  const got = r.headers.get('set-cookie').split(';')[0];
  assert.notEqual(got, fixed);
  const a = await login('bob');
  const b = await login('bob');
  assert.notEqual(a.cookie, b.cookie);
  // The fixed id is no session.
  const me = await getJSON(srv.base, '/api/v1/session', { method: 'DELETE', headers: { cookie: fixed } });
  assert.equal(me.status, 401);
});

test('logout ends the session server side; CSRF is required on the API', async () => {
  const s = await login('alice');
  const noCsrf = await fetch(srv.base + '/api/v1/session', { method: 'DELETE', headers: { cookie: s.cookie } });
  assert.equal(noCsrf.status, 403);
  assert.equal((await noCsrf.json()).error.code, 'csrf');
  const wrongCsrf = await fetch(srv.base + '/api/v1/session', {
    method: 'DELETE', headers: { cookie: s.cookie, 'x-csrf-token': 'B'.repeat(43) } });
  assert.equal(wrongCsrf.status, 403);
  const out = await fetch(srv.base + '/api/v1/session', {
    method: 'DELETE', headers: { cookie: s.cookie, 'x-csrf-token': s.body.csrf_token } });
  assert.equal(out.status, 204);
  assert.match(out.headers.get('set-cookie'), /Max-Age=0/);
  // The old cookie is dead even if the browser kept it.
  const again = await fetch(srv.base + '/api/v1/session', {
    method: 'DELETE', headers: { cookie: s.cookie, 'x-csrf-token': s.body.csrf_token } });
  assert.equal(again.status, 401);
});

test('/login and /logout without JavaScript', async () => {
  const page = await getText(srv.base, '/login?next=' + q('/search?q=garantie&lang=fr'));
  assert.equal(page.status, 200);
  assert.match(page.text, /<form class="login-form" method="post"/);
  const token = page.text.match(/name="csrf" value="([0-9a-f]{32})"/)[1];
  const formCookie = page.headers.get('set-cookie').split(';')[0];
  const post = (body, cookie = formCookie) => getText(srv.base, '/login', {
    method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie } });
  const bad = await post(`csrf=${token}&login=alice&password=nope&next=%2F`);
  assert.equal(bad.status, 401);
  assert.match(bad.text, /Identifiant ou mot de passe incorrect/);
  assert.match(bad.text, /value="alice"/, 'the login stays in the form');
  assert.equal((await post(`login=alice&password=${q(PW)}`)).status, 403, 'no form token');
  const ok = await post(`csrf=${token}&login=alice&password=${q(PW)}&next=${q('/search?q=garantie&lang=fr')}`);
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get('location'), '/search?q=garantie&lang=fr');
  const session = ok.headers.get('set-cookie').split(';')[0];
  assert.match(session, /^kb_session=/);
  // A next that leaves the site goes to the console instead.
  const evil = await post(`csrf=${token}&login=alice&password=${q(PW)}&next=${q('//evil.example/')}`);
  assert.equal(evil.headers.get('location'), '/agent');
  // Signed in: the pages say who, with a logout form holding the session's token.
  const home = await getText(srv.base, '/?lang=fr', { headers: { cookie: session } });
  assert.match(home.text, /Connecté : Alice Martin/);
  const csrf = home.text.match(/<form class="account" method="post" action="\/logout">.*?name="csrf" value="([A-Za-z0-9_-]{43})"/s)[1];
  const noToken = await getText(srv.base, '/logout', { method: 'POST', body: 'csrf=x',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });
  assert.equal(noToken.status, 403);
  const out = await getText(srv.base, '/logout', { method: 'POST', body: `csrf=${csrf}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: session } });
  assert.equal(out.status, 303);
  const after = await getText(srv.base, '/?lang=fr', { headers: { cookie: session } });
  assert.doesNotMatch(after.text, /Connecté/);
});

test('sessions end after 10 hours, or 1 hour idle, and when the user is disabled', async () => {
  const s = await login('bob');
  const del = (c, t) => fetch(srv.base + '/api/v1/session', {
    method: 'DELETE', headers: { cookie: c, 'x-csrf-token': t } });
  // Idle for an hour (moved in the database: the clock is the server's).
  sql("UPDATE sessions SET seen_at = seen_at - 3601 WHERE user_id = (SELECT id FROM users WHERE login = 'bob')");
  assert.equal((await del(s.cookie, s.body.csrf_token)).status, 401);
  const t = await login('bob');
  sql("UPDATE sessions SET created_at = created_at - 36001 WHERE user_id = (SELECT id FROM users WHERE login = 'bob') AND ended_at IS NULL");
  assert.equal((await del(t.cookie, t.body.csrf_token)).status, 401);
  const d = await login('bob');
  assert.equal(kb(['--db', srv.db, 'user', 'disable', 'bob']).status, 0);
  assert.equal((await del(d.cookie, d.body.csrf_token)).status, 401);
  assert.equal((await login('bob')).status, 401, 'a disabled user cannot log in');
});

test('failed logins slow down per login and per address, never saying whether it exists', async () => {
  let last;
  for (let i = 0; i < 6; i++) last = await login('paul', 'wrong password ' + i);
  assert.equal(last.status, 429);
  assert.ok(Number(last.headers.get('retry-after')) > 0);
  // Even the right password waits now.
  assert.equal((await login('paul')).status, 429);
  // An unknown login is throttled the same way.
  for (let i = 0; i < 6; i++) last = await login('ghost-user', 'wrong password ' + i);
  assert.equal(last.status, 429);
  // Other logins from this address still work until the address's own limit.
  assert.equal((await login('ada')).status, 201);
});

test('API tokens: a bearer token has its role, no CSRF, and its use is audited', async () => {
  const r = kb(['--db', srv.db, 'token', 'add', 'telephony', '--role', 'agent']);
  assert.equal(r.status, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^kbt_[A-Za-z0-9_-]{43}$/);
  assert.equal(sql(`SELECT count(*) FROM api_tokens WHERE token_hash = '${token}'`), '0', 'stored hashed');
  const auth = { authorization: `Bearer ${token}` };
  // An agent's token sees internal articles; anonymous callers do not.
  const internal = await getJSON(srv.base, '/api/v1/search?lang=fr&q=' + q('objection prix'), { headers: auth });
  assert.ok(internal.body.results.some((x) => x.slug === 'objection-prix'));
  const anon = await getJSON(srv.base, '/api/v1/search?lang=fr&q=' + q('objection prix'));
  assert.ok(!anon.body.results.some((x) => x.slug === 'objection-prix'));
  const forged = await getJSON(srv.base, '/api/v1/search?lang=fr&q=' + q('objection prix'),
    { headers: { authorization: 'Bearer kbt_' + 'x'.repeat(43) } });
  assert.ok(!forged.body.results.some((x) => x.slug === 'objection-prix'));
  const audit = kb(['--db', srv.db, 'audit']);
  assert.match(audit.stdout, /token:telephony\s+token\.use/);
});

test('the scope follows the role: agents see internal articles, editors drafts too', async () => {
  const agent = await login('alice');
  const editor = await login('eve');
  const page = async (path, cookie) => getText(srv.base, path, { headers: cookie ? { cookie } : {} });
  assert.equal((await page('/a/objection-prix')).status, 404);
  assert.equal((await page('/a/objection-prix', agent.cookie)).status, 200);
  assert.equal((await page('/a/brouillon-nouveau-modele', agent.cookie)).status, 404);
  assert.equal((await page('/a/brouillon-nouveau-modele', editor.cookie)).status, 200);
  // ?internal= or any other parameter changes nothing: the scope is the role's.
  const r = await getJSON(srv.base, '/api/v1/search?lang=fr&internal=1&q=' + q('objection prix'));
  assert.equal(r.status, 200);
  assert.ok(!r.body.results.some((x) => x.slug === 'objection-prix'));
});

test('the audit log: logins, failures, logouts', () => {
  const r = kb(['--db', srv.db, 'audit', '--since', '3600']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /alice\s+login\s/);
  assert.match(r.stdout, /alice\s+login\.failed/);
  assert.match(r.stdout, /alice\s+logout/);
  assert.match(r.stdout, /paul\s+login\.throttled/);
  assert.match(r.stdout, /cli\s+user\.disable\s+bob/);
  assert.doesNotMatch(r.stdout, new RegExp(PW));
});
