// tests/integration/badinput.test.mjs: hostile and broken input gets results, an empty list
// or a clear 4xx, never a 500 or a crash; raw HTML from articles never reaches a page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, getJSON, getText, tempDir, q } from './lib.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { assert.equal(await srv.stop(), 0); });

async function healthy() {
  const h = await fetch(srv.base + '/healthz');
  assert.equal(h.status, 200, 'server still healthy');
}

const HOSTILE = ['"""', '((((', 'NEAR', 'a NEAR b', '*', '-', 'title:foo', 'garantie -voiture',
  "'; DROP TABLE articles; --", '<script>alert(1)</script>', '%', '\\', 'AND OR NOT',
  'véhicule"', '   ', '🚗 voiture'];

test('hostile queries on the API: 200 with a result list', async () => {
  for (const s of HOSTILE) {
    const r = await getJSON(srv.base, '/api/v1/search?q=' + q(s) + '&lang=fr');
    assert.equal(r.status, 200, s);
    assert.ok(Array.isArray(r.body.results), s);
  }
  await healthy();
});

test('hostile queries on pages are escaped', async () => {
  for (const s of HOSTILE) {
    const r = await getText(srv.base, '/search?q=' + q(s) + '&lang=fr');
    assert.equal(r.status, 200, s);
    assert.ok(!r.text.includes('<script>alert(1)</script>'), 'query echoed unescaped');
  }
});

test('100 KB query: 400 JSON error, server stays up', async () => {
  const big = 'voiture '.repeat(12800);
  const r = await getJSON(srv.base, '/api/v1/search?q=' + q(big));
  assert.ok([400, 414, 431].includes(r.status), `status ${r.status}`);
  if (r.status === 400) assert.equal(r.body.error.code, 'invalid_parameter');
  await healthy();
});

test('invalid UTF-8 and bad numbers: 400 with a JSON error', async () => {
  for (const p of ['q=%ff%fe', 'q=ok&lang=%c3', 'q=a&limit=abc', 'q=a&limit=100000',
    'q=a&offset=-1']) {
    const r = await getJSON(srv.base, '/api/v1/search?' + p);
    assert.equal(r.status, 400, p);
    assert.equal(typeof r.body.error.code, 'string');
    assert.equal(typeof r.body.error.message, 'string');
  }
  const page = await getText(srv.base, '/search?q=%ff');
  assert.equal(page.status, 400);
});

test('a 10 MB body is refused with 413 and nothing breaks', async () => {
  const body = 'x'.repeat(10 * 1024 * 1024);
  let status;
  try {
    const r = await fetch(srv.base + '/api/v1/articles/garantie-constructeur/feedback',
      { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    status = r.status;
  } catch { status = 'closed'; }
  assert.ok(status === 413 || status === 'closed', `got ${status}`);
  await healthy();
});

test('oversized headers: an error status or a closed connection, never a 500', async () => {
  let status;
  try {
    const r = await fetch(srv.base + '/', { headers: { 'x-big': 'a'.repeat(200 * 1024) } });
    status = r.status;
  } catch { status = 'closed'; }
  assert.ok(status === 'closed' || (status >= 400 && status < 500), `got ${status}`);
  await healthy();
});

test('dropped and garbage connections leave the server healthy', async () => {
  const url = new URL(srv.base);
  await new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname, () => {
      s.write('GET /api/v1/search?q=gar');
      setTimeout(() => { s.destroy(); resolve(); }, 50);
    });
  });
  await new Promise((resolve) => {
    const s = connect(Number(url.port), url.hostname, () => {
      s.end(Buffer.from([0, 1, 2, 255, 13, 10, 13, 10]));
    });
    s.on('data', () => {});
    s.on('close', resolve);
    s.on('error', resolve);
  });
  await healthy();
});

test('unknown methods: 405 with Allow', async () => {
  const r = await getJSON(srv.base, '/api/v1/search?q=a', { method: 'DELETE' });
  assert.equal(r.status, 405);
  assert.equal(r.body.error.code, 'method_not_allowed');
});

test('raw HTML and javascript: links in an article never reach the page', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'content', 'fr'), { recursive: true });
  writeFileSync(join(dir, 'content', 'fr', 'piege.md'), [
    '---', 'title: "Article <b>piégé</b>"', 'slug: piege', 'lang: fr', 'category: Test', '---',
    '<script>alert(1)</script>', '', 'Texte <img src=x onerror=alert(1)> suite.', '',
    '[cliquez](javascript:alert(1)) et <a href="javascript:alert(2)">ici</a>', '',
    '<iframe src="https://example.org"></iframe>', ''].join('\n'));
  const other = await startServer({ content: join(dir, 'content'), dir });
  try {
    const r = await getText(other.base, '/a/piege');
    assert.equal(r.status, 200);
    assert.ok(!r.text.includes('<script>alert'), 'script tag');
    assert.ok(!r.text.includes('onerror'), 'event handler');
    assert.ok(!r.text.includes('javascript:'), 'javascript: URL');
    assert.ok(!r.text.includes('<iframe'), 'iframe');
    assert.match(r.text, /<h1>Article &lt;b&gt;piégé&lt;\/b&gt;<\/h1>/);
    const api = await getJSON(other.base, '/api/v1/articles/piege');
    assert.ok(!api.body.html.includes('<script'));
  } finally {
    await other.stop();
  }
});
