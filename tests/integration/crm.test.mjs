// tests/integration/crm.test.mjs: cases delivered to a real CRM receiver (an HTTP server that
// verifies every signature with the standardwebhooks package): the webhook's headers and body,
// and delivery whatever happens: the CRM down then up, answering 500 then 200, 429 with
// Retry-After, 410, hanging, every attempt failing, and kb killed with SIGKILL before and
// during a POST. Every event reaches the CRM with the same webhook-id on every attempt, and an
// event whose 2xx was recorded is never sent again. KB_CRM_RETRY_SCALE shrinks the schedule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { KB, kb, startServer } from './lib.mjs';
import { SECRET, chatContent, connect, openCase, startReceiver } from './chatlib.mjs';

function caseJSON(db, ref) {
  const r = spawnSync(KB, ['--db', db, 'case', 'show', ref, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

function caseText(db, ref) {
  return spawnSync(KB, ['--db', db, 'case', 'show', ref], { encoding: 'utf8' }).stdout;
}

function caseList(db, ...args) {
  const r = spawnSync(KB, ['--db', db, 'case', 'list', '--json', ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).cases;
}

/** A fresh database of the test content; serve() starts kb on it (again). */
function setup() {
  const { dir, content } = chatContent();
  const db = join(dir, 'kb.db');
  assert.equal(kb(['--db', db, 'import', content]).status, 0);
  const serve = (url, scale = '0.002') => startServer({
    dir, importFirst: false,
    args: url ? ['--crm-url', url, '--crm-secret', SECRET] : [],
    env: { KB_CRM_RETRY_SCALE: scale },
  });
  return { dir, db, serve };
}

test('case.created: signed Standard Webhooks POST, idempotency key, data = kb case show --json', async () => {
  const crm = await startReceiver();
  const { db, serve } = setup();
  const srv = await serve(crm.url);
  try {
    const c = await connect(srv.chatUrl);
    await c.start({ page: '/a/reclamation' });
    const { kase } = await openCase(c);
    await crm.waitFor((r) => r.events.length === 1);
    const req = crm.requests[0];
    assert.equal(req.verified, true, 'the signature verifies with the standardwebhooks package');
    assert.match(req.id, /^msg_[A-Za-z0-9_-]{22}$/);
    assert.equal(req.idem, req.id, 'Idempotency-Key equals webhook-id');
    assert.match(req.signature, /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.ok(Math.abs(Number(req.timestamp) - Date.now() / 1000) < 30);
    assert.match(req.contentType, /^application\/json/);
    const ev = crm.events[0];
    assert.equal(ev.type, 'case.created');
    assert.match(ev.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(ev.data, caseJSON(db, kase.ref), 'the same case JSON in the webhook and in kb case show');
    assert.deepEqual(Object.keys(ev.data).sort(), ['articles', 'consent', 'contact', 'conversation_id',
      'created_at', 'lang', 'ref', 'status', 'subject', 'transcript']);
    assert.equal(ev.data.ref, kase.ref);
    assert.equal(ev.data.status, 'new');
    assert.equal(ev.data.lang, 'fr');
    assert.deepEqual(ev.data.transcript[0], { seq: 1, from: 'customer', text: "je m'appelle Jean",
      at: ev.data.transcript[0].at });
    // Delivered: listed so, and never sent again (even after a restart).
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caseList(db, '--delivery', 'delivered').length, 1);
    assert.equal(caseList(db, '--delivery', 'pending').length, 0);
    assert.match(caseText(db, kase.ref), /#1 .* HTTP 200: delivered/);
    await srv.stop({ keep: true });
    const again = await serve(crm.url);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(crm.requests.length, 1, 'an event whose 2xx was recorded is never sent again');
    await again.stop();
  } finally {
    await srv.stop();
    await crm.close();
  }
});

test('the CRM down, then answering 500, then 200: delivered, same webhook-id every time', async () => {
  const port = (await startReceiver().then(async (r) => { await r.close(); return r.port; }));
  const { db, serve } = setup();
  const srv = await serve(`http://127.0.0.1:${port}/hook`, '0.0005');
  let crm;
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    const { kase } = await openCase(c);
    // Nothing listens: the first attempt fails (connection refused) and is recorded.
    for (let i = 0; i < 100 && !/#1 /.test(caseText(db, kase.ref)); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.match(caseText(db, kase.ref), /#1 .*(refused|connect)/i);
    assert.equal(caseList(db, '--delivery', 'pending').length, 1);
    // The CRM comes up, answers 500 twice, then 200.
    crm = await startReceiver({ port, behave: (n) => ({ status: n <= 2 ? 500 : 200 }) });
    await crm.waitFor((r) => r.requests.length >= 3, 30000);
    const ids = new Set(crm.requests.map((q) => q.id));
    assert.equal(ids.size, 1, 'the same webhook-id on every retry');
    assert.ok(crm.requests.every((q) => q.verified));
    assert.equal(new Set(crm.requests.map((q) => q.body)).size, 1, 'the same body');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caseList(db, '--delivery', 'delivered')[0].ref, kase.ref);
    const text = caseText(db, kase.ref);
    assert.match(text, /HTTP 500/);
    assert.match(text, /HTTP 200: delivered/);
    // A second case gets its own event id.
    const d = await connect(srv.chatUrl);
    await d.start();
    await openCase(d, { prefix: 'z', email: 'marie@example.org' });
    await crm.waitFor((r) => r.events.length === 2);
    assert.notEqual(crm.events[1]._id, crm.events[0]._id);
  } finally {
    await srv.stop();
    await crm?.close();
  }
});

test('429 with Retry-After is honoured; 410 stops delivery to the URL until kb case redeliver', async () => {
  let mode = 'retry-after';
  const crm = await startReceiver({
    behave: (n) => (mode === 'retry-after' ? (n === 1 ? { status: 429, headers: { 'Retry-After': '2' } } : { status: 200 })
      : mode === 'gone' ? { status: 410 } : { status: 200 }),
  });
  const { db, serve } = setup();
  const srv = await serve(crm.url);
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    await openCase(c);
    await crm.waitFor((r) => r.requests.length === 2, 10000);
    const gap = crm.requests[1].at - crm.requests[0].at;
    assert.ok(gap >= 1900, `the retry waited for Retry-After (${gap} ms)`);
    assert.equal(crm.requests[0].id, crm.requests[1].id);
    // 410 Gone: this event stops, and the next one is not sent to that URL either.
    mode = 'gone';
    const d = await connect(srv.chatUrl);
    await d.start();
    const { kase } = await openCase(d, { prefix: 'g' });
    await crm.waitFor((r) => r.requests.length === 3);
    const e = await connect(srv.chatUrl);
    await e.start();
    const { kase: second } = await openCase(e, { prefix: 'h', email: 'x@example.com' });
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(crm.requests.length, 3, 'nothing more is sent to a URL that answered 410');
    const failed = caseList(db, '--delivery', 'failed').map((x) => x.ref).sort();
    assert.deepEqual(failed, [kase.ref, second.ref].sort());
    // The operator redelivers once the CRM is fixed.
    mode = 'ok';
    for (const ref of [kase.ref, second.ref]) {
      const r = spawnSync(KB, ['--db', db, 'case', 'redeliver', ref], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /1 event of KB-\d{4}-\d{6} due again/);
    }
    await crm.waitFor((r) => r.events.filter((x) => x.data.ref === kase.ref || x.data.ref === second.ref).length >= 2, 15000);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caseList(db, '--delivery', 'failed').length, 0);
    assert.equal(caseList(db, '--delivery', 'delivered').length, 3);
  } finally {
    await srv.stop();
    await crm.close();
  }
});

test('a CRM that hangs: the attempt times out after 15 s, the retry delivers', async () => {
  const crm = await startReceiver({ behave: (n) => (n === 1 ? { hang: true } : { status: 204 }) });
  const { db, serve } = setup();
  const srv = await serve(crm.url);
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    const { kase } = await openCase(c);
    await crm.waitFor((r) => r.requests.length === 2, 30000);
    const gap = crm.requests[1].at - crm.requests[0].at;
    assert.ok(gap >= 14000, `the first attempt waited 15 s (${gap} ms)`);
    assert.equal(crm.requests[0].id, crm.requests[1].id);
    await new Promise((r) => setTimeout(r, 300));
    assert.match(caseText(db, kase.ref), /HTTP 204: delivered/);
    assert.match(caseText(db, kase.ref), /#1 .*(timed out|Timeout)/i);
  } finally {
    await srv.stop();
    await crm.close();
  }
});

test('every attempt failing: failed after 10 attempts, then kb case redeliver', async () => {
  let ok = false;
  const crm = await startReceiver({ behave: () => ({ status: ok ? 200 : 503 }) });
  const { db, serve } = setup();
  const srv = await serve(crm.url, '0.00003'); // the whole schedule in about 8 s
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    const { kase } = await openCase(c);
    await crm.waitFor((r) => r.requests.length === 10, 30000);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(crm.requests.length, 10, 'no 11th attempt');
    assert.equal(new Set(crm.requests.map((q) => q.id)).size, 1);
    assert.deepEqual(caseList(db, '--delivery', 'failed').map((x) => x.ref), [kase.ref]);
    assert.match(caseText(db, kase.ref), /failed \(10 attempts\)/);
    ok = true;
    assert.equal(spawnSync(KB, ['--db', db, 'case', 'redeliver', kase.ref]).status, 0);
    await crm.waitFor((r) => r.requests.length === 11, 10000);
    assert.equal(crm.requests[10].id, crm.requests[0].id);
  } finally {
    await srv.stop();
    await crm.close();
  }
});

test('kb killed with SIGKILL before delivery and during a POST: delivered after restart, same id', async () => {
  // Before: the case is opened while no CRM is configured (its event waits); kb is killed; kb
  // starts again with the CRM's address.
  const { db, serve } = setup();
  let srv = await serve(null, '100'); // retries far away
  const c = await connect(srv.chatUrl);
  await c.start();
  const { kase } = await openCase(c);
  await srv.stop({ keep: true, signal: 'SIGKILL' });
  assert.equal(caseList(db, '--delivery', 'pending')[0].ref, kase.ref);
  let hangFirst = true;
  const crm = await startReceiver({ behave: () => (hangFirst ? { hang: true } : { status: 200 }) });
  srv = await serve(crm.url, '100');
  try {
    // Due at once after the restart; the CRM hangs on it: kill kb during the POST.
    await crm.waitFor((r) => r.requests.length === 1);
    const id = crm.requests[0].id;
    await srv.stop({ keep: true, signal: 'SIGKILL' });
    hangFirst = false;
    srv = await serve(crm.url, '100');
    await crm.waitFor((r) => r.requests.length === 2);
    assert.equal(crm.requests[1].id, id, 'the same webhook-id after the crash');
    assert.ok(crm.requests.every((q) => q.verified));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(caseList(db, '--delivery', 'delivered')[0].ref, kase.ref);
    assert.match(caseText(db, kase.ref), /interrupted/);
    // Killed after the 2xx was recorded: nothing is sent again.
    await srv.stop({ keep: true, signal: 'SIGKILL' });
    srv = await serve(crm.url, '100');
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(crm.requests.length, 2);
  } finally {
    await srv.stop();
    await crm.close();
  }
});
