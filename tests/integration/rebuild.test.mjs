// tests/integration/rebuild.test.mjs: `kb index --rebuild` beside a serving kb never empties
// the index readers see. Customers search all along (four at a time): every search answers 200
// with the results it had before the rebuild started, while the rebuild runs, while it is
// killed (SIGKILL) at any moment, and after; once a rebuild completes, the server answers from
// the new index, complete, and the directory holds no other generation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, kb, tempDir, q } from './lib.mjs';

const SHARED = process.env.KB_SHARED;

/** n articles: the service-public ones again and again, with new slugs. */
function corpus(n) {
  const src = join(SHARED, 'service-public-fr');
  const files = readdirSync(src).filter((f) => f.endsWith('.md')).sort();
  const texts = files.map((f) => readFileSync(join(src, f), 'utf8'));
  const out = join(tempDir('kb-corpus-'), 'articles', 'fr');
  mkdirSync(out, { recursive: true });
  for (let i = 0; i < n; i++) {
    const copy = Math.floor(i / texts.length);
    const t = texts[i % texts.length].replace(/^slug:\s*(\S+)/m, (m, s) => `slug: ${s}-r${copy}`);
    writeFileSync(join(out, `a${i}.md`), t);
  }
  return join(out, '..', '..');
}

/** Run `kb index --rebuild` on db; resolves to {code, signal, ms}. With killAfter (ms), the
 * process is killed with SIGKILL then, if it has not finished. */
function rebuild(db, killAfter) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(process.env.KB_BIN, ['--db', db, 'index', '--rebuild'],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = killAfter === undefined ? null : setTimeout(() => child.kill('SIGKILL'), killAfter);
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, ms: performance.now() - t0, out, err });
    });
  });
}

test('kb index --rebuild beside the server, finished or killed: every search keeps its results', async () => {
  const srv = await startServer();
  try {
    const content = corpus(1500);
    const imp = kb(['--db', srv.db, 'import', content], { timeout: 240000 });
    assert.equal(imp.status, 0, imp.stderr);
    // Queries with results in the shipped content, the corpus, or both; what each finds now.
    const queries = ['garantie constructeur', 'carte grise', 'passeport', 'rendez-vous atelier',
      'congé maternité', 'allocations familiales'];
    // The server picks up the import (readers reopen at most once a second).
    const want = {};
    const deadline = Date.now() + 10000;
    for (;;) {
      const h = await (await fetch(`${srv.base}/healthz`)).json();
      if (h.indexed === h.articles || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const text of queries) {
      const r = await fetch(`${srv.base}/api/v1/search?lang=fr&q=${q(text)}`);
      const body = await r.json();
      assert.equal(r.status, 200);
      assert.ok(body.results.length > 0, `"${text}" finds something before the rebuild`);
      want[text] = body.results.length;
    }

    // Customers search all along: four at a time.
    let searching = true, searches = 0;
    const failures = [];
    const customer = async (k) => {
      for (let i = k; searching; i++) {
        const text = queries[i % queries.length];
        try {
          const r = await fetch(`${srv.base}/api/v1/search?lang=fr&q=${q(text)}`);
          const body = await r.json();
          if (r.status !== 200 || body.results.length !== want[text])
            failures.push(`"${text}": ${r.status}, ${body.results?.length} results (${want[text]} before)`);
        } catch (e) {
          failures.push(`"${text}": ${e.message}`);
        }
        searches++;
      }
    };
    const customers = [0, 1, 2, 3].map(customer);

    // A complete rebuild, its duration the yardstick for the kills.
    const first = await rebuild(srv.db);
    assert.equal(first.code, 0, first.err);
    assert.match(first.out, /^\d+ articles indexed/);
    // Killed at moments spread over a rebuild: the live index stays as it was.
    for (const share of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const killed = await rebuild(srv.db, Math.max(20, Math.round(first.ms * share)));
      assert.ok(killed.signal === 'SIGKILL' || killed.code === 0, killed.err);
    }
    // And completed once more after the kills.
    const last = await rebuild(srv.db);
    assert.equal(last.code, 0, last.err);
    // Readers reopen within a second: let them see the last generation.
    await new Promise((r) => setTimeout(r, 1500));
    searching = false;
    await Promise.all(customers);
    console.log(`# ${searches} searches during ${first.ms.toFixed(0)} ms rebuilds, 5 killed`);
    assert.deepEqual(failures.slice(0, 10), []);
    assert.ok(searches > 50, `${searches} searches ran`);

    // The index is complete, and it is the one generation on disk.
    const h = await (await fetch(`${srv.base}/healthz`)).json();
    assert.equal(h.indexed, h.articles);
    assert.equal(h.index_queue, 0);
    const dir = srv.db + '.index';
    const current = readFileSync(join(dir, 'current'), 'utf8').trim();
    assert.match(current, /^g\d+$/);
    assert.deepEqual(readdirSync(dir).filter((f) => /^g\d+$/.test(f)), [current]);
    assert.ok(!existsSync(join(dir, 'iamglass')), 'the index first imported is gone');
    const search = kb(['--db', srv.db, 'search', '--lang', 'fr', '--json', 'garantie constructeur']);
    assert.equal(search.status, 0, search.stderr);
    assert.equal(JSON.parse(search.stdout).results[0].slug, 'garantie-constructeur');
  } finally {
    await srv.stop();
  }
});
