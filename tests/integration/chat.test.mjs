// tests/integration/chat.test.mjs: the chat's protocol, as a client sees it, against the real
// `kb serve` on loopback with the test rules (fixtures/chat): frames and their sequence
// numbers, duplicate ids, resuming after a disconnect and after a restart, the end of a
// conversation, rules changed by an import while conversations go on, and bad input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KB, kb, startServer } from './lib.mjs';
import { Client, chatContent, connect, openCase } from './chatlib.mjs';

/** The test content imported into a fresh database, served. */
async function serve(opts = {}) {
  const { dir, content } = chatContent();
  const r = kb(['--db', join(dir, 'kb.db'), 'import', content]);
  assert.equal(r.status, 0, r.stderr);
  const srv = await startServer({ dir, importFirst: false, ...opts });
  srv.content = content;
  return srv;
}

const sql = (db, q) => spawnSync('sqlite3', [db, q], { encoding: 'utf8' }).stdout.trim();

test('start, message, ack and reply with sequence numbers; rules answer in French and English', async () => {
  const srv = await serve();
  try {
    const c = await connect(srv.chatUrl);
    const started = await c.start({ page: '/a/garantie' });
    assert.equal(started.resumed, false);
    assert.equal(started.seq, 0);
    assert.match(started.conversation, /^[A-Za-z0-9_-]{43}$/, '256 random bits, URL-safe');
    const { ack, reply } = await c.say('c-1', 'Bonjour');
    assert.deepEqual(ack, { type: 'ack', id: 'c-1', seq: 1 });
    assert.equal(reply.seq, 2);
    assert.equal(reply.text, 'Bonjour ! Que puis-je faire pour vous ?');
    assert.deepEqual(reply.quick_replies, []);
    assert.deepEqual(reply.articles, []);
    // The knowledge base answers what the rules do not: article cards and quick replies.
    const kb1 = await c.say('c-2', 'comment prolonger la garantie de ma voiture');
    assert.match(kb1.reply.text, /\(\/a\/extension-garantie\)/);
    assert.deepEqual(kb1.reply.quick_replies, ['Oui', 'Non']);
    assert.equal(kb1.reply.articles.length, 3);
    assert.deepEqual(Object.keys(kb1.reply.articles[0]).sort(), ['slug', 'summary', 'title', 'url']);
    assert.equal(kb1.reply.articles[0].url, '/a/extension-garantie');
    c.close();
    const e = await connect(srv.chatUrl);
    await e.start({ lang: 'en' });
    assert.equal((await e.say('e1', 'Hello')).reply.text, 'Hello! What can I do for you?');
    // A language without rules gets the default language's rules.
    const d = await connect(srv.chatUrl);
    await d.start({ lang: 'de' });
    assert.equal((await d.say('d1', 'Bonjour')).reply.text, 'Bonjour ! Que puis-je faire pour vous ?');
    e.close();
    d.close();
    // The conversation is stored: messages with their seq, the page, the outcome so far.
    const rows = sql(srv.db, "SELECT seq || ' ' || sender FROM messages m JOIN conversations c " +
      "ON c.id = m.conversation_id WHERE c.page = '/a/garantie' ORDER BY seq");
    assert.deepEqual(rows.split('\n'), ['1 customer', '2 bot', '3 customer', '4 bot']);
    assert.equal(sql(srv.db, "SELECT outcome FROM conversations WHERE page = '/a/garantie'"), 'rule');
  } finally {
    await srv.stop();
  }
});

test('a message id the conversation already has gets the same ack and no new reply', async () => {
  const srv = await serve();
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    const first = await c.say('m-1', 'quelle version');
    c.send({ type: 'message', id: 'm-1', text: 'quelle version' });
    const again = await c.type('ack');
    assert.deepEqual(again, first.ack);
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(c.frames.filter((f) => f.type === 'reply').length, 0, 'no second reply');
    // The next message gets the next numbers: nothing was stored twice.
    const next = await c.say('m-2', 'quelle version');
    assert.equal(next.ack.seq, 3);
    assert.equal(sql(srv.db, 'SELECT count(*) FROM messages'), '4');
  } finally {
    await srv.stop();
  }
});

test('resume after a disconnect: same conversation, history after `after`, variables kept', async () => {
  const srv = await serve();
  try {
    const a = await connect(srv.chatUrl);
    const { conversation } = await a.start();
    await a.say('r1', "je m'appelle Zoé");
    await a.say('r2', 'quelle version');
    a.terminate(); // the connection is lost
    const b = await connect(srv.chatUrl);
    const started = await b.start({ resume: conversation, after: 2 });
    assert.deepEqual(started, { type: 'started', conversation, resumed: true, seq: 4 });
    const hist = await b.type('history');
    assert.deepEqual(hist.messages.map((m) => [m.seq, m.from, m.text]),
      [[3, 'customer', 'quelle version'], [4, 'bot', 'version un']]);
    assert.match(hist.messages[0].at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.deepEqual(hist.messages[1].quick_replies, []);
    assert.equal((await b.say('r3', 'comment je m appelle')).reply.text, 'Vous vous appelez Zoé.');
    // Without `after`: the whole conversation.
    const c = await connect(srv.chatUrl);
    await c.start({ resume: conversation });
    assert.equal((await c.type('history')).messages.length, 6);
    // Two connections of one conversation (two tabs): both see the reply, the other one
    // sees the customer's message too.
    const { reply } = await b.say('r4', 'quelle version');
    assert.equal((await c.next((f) => f.type === 'reply' && f.seq === reply.seq)).text, 'version un');
    const mine = await c.type('history');
    assert.equal(mine.messages[0].text, 'quelle version');
    assert.equal(mine.messages[0].from, 'customer');
  } finally {
    await srv.stop();
  }
});

test('resume after a restart of kb (and after SIGKILL): same topic and variables', async () => {
  let srv = await serve();
  const dir = srv.dir;
  const a = await connect(srv.chatUrl);
  const { conversation } = await a.start();
  await a.say('s1', "je m'appelle Inès");
  await a.say('s2', 'conseiller');
  await a.say('s3', 'oui'); // now in topic "contact"
  await srv.stop({ keep: true });
  srv = await startServer({ dir, importFirst: false });
  try {
    const b = await connect(srv.chatUrl);
    const st = await b.start({ resume: conversation, after: 6 });
    assert.equal(st.resumed, true);
    assert.equal(st.seq, 6);
    assert.deepEqual((await b.type('history')).messages, []);
    // Still in the contact topic: an invalid contact is asked again.
    assert.match((await b.say('s4', 'je ne sais pas')).reply.text, /^Je n'ai pas compris/);
    await srv.stop({ keep: true, signal: 'SIGKILL' });
    srv = await startServer({ dir, importFirst: false });
    const c = await connect(srv.chatUrl);
    await c.start({ resume: conversation, after: 8 });
    assert.match((await c.say('s5', 'ines@example.org')).reply.text, /votre demande \?$/);
    assert.equal((await c.say('s6', 'comment je m appelle')).ack.seq, 11);
  } finally {
    await srv.stop();
  }
});

test('bad resume tokens, messages before start, the end of a conversation', async () => {
  const srv = await serve({ args: ['--chat-idle', '2'] });
  try {
    const c = await connect(srv.chatUrl);
    c.send({ type: 'message', id: 'x', text: 'bonjour' });
    assert.equal((await c.type('error')).code, 'not_started');
    c.send({ type: 'start', lang: 'fr', resume: 'A'.repeat(43) });
    assert.equal((await c.type('error')).code, 'unknown_conversation');
    // The connection can still start a new conversation.
    const { conversation } = await c.start();
    await c.say('e1', 'bonjour');
    c.send({ type: 'end' });
    const closed = await c.waitClosed();
    assert.equal(closed.code, 1000);
    const d = await connect(srv.chatUrl);
    d.send({ type: 'start', lang: 'fr', resume: conversation });
    assert.equal((await d.type('error')).code, 'unknown_conversation');
    assert.equal(sql(srv.db, 'SELECT state, outcome FROM conversations WHERE ended_at IS NOT NULL'),
      'ended|rule');
    // An idle conversation ends (--chat-idle 2): its connection is closed, its token is dead.
    const { conversation: idle } = await d.start();
    await d.say('i1', 'quelle version');
    assert.equal((await d.waitClosed(8000)).code, 1000);
    const e = await connect(srv.chatUrl);
    e.send({ type: 'start', lang: 'fr', resume: idle });
    assert.equal((await e.type('error')).code, 'unknown_conversation');
    assert.equal(sql(srv.db, 'SELECT outcome FROM conversations WHERE id = (SELECT max(id) FROM ' +
      "conversations WHERE ended_at IS NOT NULL AND outcome = 'abandoned')"), 'abandoned');
  } finally {
    await srv.stop();
  }
});

test('an import that changes the rules reaches running conversations without dropping them', async () => {
  const srv = await serve();
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    await c.say('u1', "je m'appelle Paul");
    assert.equal((await c.say('u2', 'quelle version')).reply.text, 'version un');
    const file = join(srv.content, 'bot', 'fr', 'test.rive');
    writeFileSync(file, readFileSync(file, 'utf8').replace('- version un', '- version deux'));
    // A second file with an error is reported and does not replace its previous version.
    writeFileSync(join(srv.content, 'bot', 'fr', 'broken.rive'), '! version = 2.0\n+ casse (\n- jamais\n');
    const r = kb(['--db', srv.db, 'import', srv.content]);
    assert.equal(r.status, 1, 'a rules file failed');
    assert.match(r.stderr, /broken\.rive:2: error:/);
    assert.match(r.stdout, /3 rule files: 1 stored, 1 unchanged, 1 failed, 0 removed/);
    let text;
    for (let i = 0; i < 40; i++) {
      text = (await c.say(`u3-${i}`, 'quelle version')).reply.text;
      if (text === 'version deux') break;
      await new Promise((res) => setTimeout(res, 250));
    }
    assert.equal(text, 'version deux', 'the new rules answer');
    assert.equal((await c.say('u4', 'comment je m appelle')).reply.text, 'Vous vous appelez Paul.',
      'the conversation keeps its variables');
  } finally {
    await srv.stop();
  }
});

test('bad frames: an error frame, the connection stays open; too large: closed', async () => {
  const srv = await serve();
  try {
    const c = await connect(srv.chatUrl);
    for (const [raw, why] of [['not json', 'not JSON'], ['[1,2]', 'not a JSON object'],
      ['{"type":"dance"}', 'unknown'], ['{"type":"start"}', 'lang'],
      ['{"type":"message","id":"","text":"x"}', 'id'], [`{"type":"message","id":"${'i'.repeat(65)}","text":"x"}`, 'id'],
      ['{"type":"message","id":"a","text":"   "}', 'empty'], ['{"lang":"fr"}', 'type']]) {
      c.send(raw);
      const e = await c.type('error');
      assert.equal(e.code, 'bad_frame', raw);
      assert.match(e.message, new RegExp(why), raw);
    }
    c.sendRaw(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await c.type('error')).code, 'bad_frame');
    c.sendRaw(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false }); // invalid UTF-8
    assert.equal((await c.type('error')).code, 'bad_frame');
    await c.start();
    assert.equal((await c.say('ok', 'quelle version')).reply.text, 'version un');
    c.send({ type: 'message', id: 'big', text: 'x'.repeat(5000) });
    assert.equal((await c.type('error')).code, 'too_large');
    assert.equal((await c.waitClosed()).code, 1009);
    // The server is fine.
    const d = await connect(srv.chatUrl);
    await d.start();
    assert.equal((await d.say('ok', 'quelle version')).reply.text, 'version un');
  } finally {
    await srv.stop();
  }
});

test('floods: messages beyond the rate are answered rate_limited with their id, none is lost', async () => {
  const srv = await serve({ args: ['--chat-rate', '5', '--chat-burst', '20'] });
  try {
    const c = await connect(srv.chatUrl);
    await c.start();
    for (let i = 0; i < 40; i++) c.send({ type: 'message', id: `f${i}`, text: 'quelle version' });
    const seen = new Set();
    while (seen.size < 40) {
      const f = await c.next((x) => x.type === 'ack' || (x.type === 'error' && x.id));
      assert.ok(!seen.has(f.id));
      seen.add(f.id);
      if (f.type === 'error') assert.equal(f.code, 'rate_limited');
    }
    const acked = Number(sql(srv.db, "SELECT count(*) FROM messages WHERE sender = 'customer'"));
    assert.ok(acked >= 20 && acked < 40, `${acked} processed`);
    // 10,000 frames in a second from one connection: closed, and the server goes on.
    const d = await connect(srv.chatUrl);
    await d.start();
    for (let i = 0; i < 10000; i++) d.send({ type: 'message', id: `g${i}`, text: 'quelle version' });
    const closed = await d.waitClosed(15000);
    // 1008 (policy) when the close frame arrives, 1006 when the server's close raced the
    // client's writes: either way the connection is closed.
    assert.ok([1006, 1008].includes(closed.code), String(closed.code));
    const e = await connect(srv.chatUrl);
    await e.start();
    assert.equal((await e.say('ok', 'quelle version')).reply.text, 'version un');
  } finally {
    await srv.stop();
  }
});

test('connections per address and new conversations per minute are limited', async () => {
  const srv = await serve({ args: ['--chat-conn-max', '50', '--chat-new-max', '30'] });
  try {
    const clients = [];
    for (let i = 0; i < 60; i++) clients.push(new Client(srv.chatUrl));
    await Promise.all(clients.map((c) => c.open().catch(() => {})));
    await new Promise((r) => setTimeout(r, 500));
    const refused = clients.filter((c) => c.frames.some((f) => f.code === 'rate_limited'));
    assert.equal(refused.length, 10);
    for (const c of refused) assert.equal((await c.waitClosed()).code, 1008);
    const open = clients.filter((c) => !refused.includes(c));
    // 30 new conversations a minute from one address; the 31st is refused.
    let started = 0, limited = 0;
    for (const c of open.slice(0, 35)) {
      c.send({ type: 'start', lang: 'fr' });
      const f = await c.next((x) => x.type === 'started' || x.type === 'error');
      if (f.type === 'started') started++; else { assert.equal(f.code, 'rate_limited'); limited++; }
    }
    assert.equal(started, 30);
    assert.equal(limited, 5);
    for (const c of clients) c.terminate();
  } finally {
    await srv.stop();
  }
});

test('a connection that never speaks is closed; a client vanishing mid-frame costs nothing', async () => {
  const srv = await serve();
  try {
    const silent = await connect(srv.chatUrl);
    const t0 = Date.now();
    await silent.waitClosed(15000);
    assert.ok(Date.now() - t0 >= 9000, 'after about 10 s');
    // Half a frame, then the socket is destroyed: the server stays up and answers others.
    const { connect: tcp } = await import('node:net');
    const u = new URL(srv.chatUrl);
    const s = tcp(Number(u.port), u.hostname);
    await new Promise((r) => s.on('connect', r));
    s.write('GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    s.write(Buffer.from([0x81, 0xfe, 0x10, 0x00, 1, 2, 3, 4, 0x41, 0x42])); // 4 KiB announced, 2 sent
    s.destroy();
    const c = await connect(srv.chatUrl);
    await c.start();
    assert.equal((await c.say('ok', 'quelle version')).reply.text, 'version un');
    // Another path than /chat is refused.
    const other = new Client(srv.chatUrl.replace('/chat', '/other'));
    await assert.rejects(other.open());
  } finally {
    await srv.stop();
  }
});

test('keepalive: a silent peer is pinged; one that answers stays, one that does not is dropped', async () => {
  const srv = await serve({ args: ['--chat-ping', '1'] });
  const { default: WebSocket } = await import('ws');
  const open = (autoPong) => new Promise((resolve, reject) => {
    const ws = new WebSocket(srv.chatUrl, { autoPong });
    const s = { ws, pings: 0, closed: null, started: false };
    ws.on('ping', () => { s.pings++; });
    ws.on('message', (d) => { if (JSON.parse(d.toString()).type === 'started') s.started = true; });
    ws.on('close', (code) => { s.closed = { code, at: Date.now() }; });
    ws.on('open', () => { ws.send(JSON.stringify({ type: 'start', lang: 'fr' })); resolve(s); });
    ws.on('error', reject);
  });
  try {
    const t0 = Date.now();
    const answers = await open(true);
    const mute = await open(false);
    await new Promise((r) => setTimeout(r, 7500));
    assert.ok(answers.started && mute.started);
    // Pinged after 1 s of silence (the sweep runs once a second: every 2 s or so), again after
    // each pong: alive after 7.5 s.
    assert.ok(answers.pings >= 2, `pings: ${answers.pings}`);
    assert.equal(answers.closed, null);
    assert.equal(answers.ws.readyState, WebSocket.OPEN);
    // Pinged once, no pong: dropped 1 s after the ping (the sweep runs once a second).
    assert.equal(mute.pings, 1);
    assert.ok(mute.closed, 'the mute peer is dropped');
    assert.ok(mute.closed.at - t0 >= 1900 && mute.closed.at - t0 < 5000, `after ${mute.closed.at - t0} ms`);
    answers.ws.close();
  } finally {
    await srv.stop();
  }
});

test('the case frame follows the reply; kb case show has the case; outcome is case', async () => {
  const srv = await serve();
  try {
    const c = await connect(srv.chatUrl);
    await c.start({ page: '/a/facture' });
    const { reply, kase } = await openCase(c, { subject: "Ma facture d'avril est fausse !" });
    assert.match(kase.ref, /^KB-\d{4}-\d{6}$/);
    assert.equal(kase.seq, reply.seq + 1);
    assert.equal(reply.text, `C'est fait : dossier ${kase.ref}.`);
    const show = spawnSync(KB, ['--db', srv.db, 'case', 'show', kase.ref, '--json'], { encoding: 'utf8' });
    assert.equal(show.status, 0, show.stderr);
    const j = JSON.parse(show.stdout);
    assert.equal(j.status, 'new');
    assert.equal(j.subject, "Ma facture d'avril est fausse !", 'the subject as the customer typed it');
    assert.deepEqual(j.contact, { name: 'Jean', email: 'jean.dupont@example.fr', phone: null });
    assert.equal(j.consent.text, "Pour transmettre votre demande, j'enregistre vos coordonnées et notre conversation. Êtes-vous d'accord ?");
    assert.deepEqual(j.transcript.map((m) => m.from),
      ['customer', 'bot', 'customer', 'bot', 'customer', 'bot', 'customer', 'bot', 'customer']);
    assert.equal(j.transcript.at(-1).text, "Ma facture d'avril est fausse !");
    assert.match(j.conversation_id, /^conv_/);
    assert.equal(sql(srv.db, "SELECT outcome FROM conversations WHERE page = '/a/facture'"), 'case');
    // A case is not opened without consent, nor its status given to another conversation.
    const d = await connect(srv.chatUrl);
    await d.start();
    assert.equal((await d.say('n1', 'ouvre un dossier sans accord')).reply.text, '[][consent]');
    assert.equal((await d.say('n2', `statut ${kase.ref}`)).reply.text, 'Statut : unknown.');
    assert.equal((await c.say('n3', `statut ${kase.ref}`)).reply.text,
      'Statut : nouveau (pas encore pris en charge).');
    // The same email in another conversation may ask.
    const e = await connect(srv.chatUrl);
    await e.start();
    assert.equal((await e.say('o1', 'mon email est JEAN.DUPONT@example.fr')).reply.text, 'Noté : email.');
    assert.equal((await e.say('o2', `statut ${kase.ref.toLowerCase()}`)).reply.text,
      'Statut : nouveau (pas encore pris en charge).');
  } finally {
    await srv.stop();
  }
});

test("pages name the chat's origin, and only it, in the CSP's connect-src", async () => {
  const srv = await serve();
  try {
    const origin = srv.chatUrl.replace('/chat', '');
    const r = await fetch(srv.base + '/?lang=fr');
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, new RegExp(`connect-src 'self' ${origin.replace(/[.]/g, '\\.')};`));
    assert.doesNotMatch(csp, /connect-src[^;]*(ws:|wss:)\s*[;']/, 'no bare scheme');
    // The host the browser asked for (localhost here) gives the widget's address.
    const port = new URL(srv.base).port;
    const l = await fetch(`http://localhost:${port}/?lang=fr`);
    assert.match(l.headers.get('content-security-policy'),
      new RegExp(`connect-src 'self' ws://localhost:${new URL(origin.replace('ws:', 'http:')).port};`));
    // A hostile Host header never reaches the policy.
    const { request } = await import('node:http');
    const hostile = await new Promise((resolve) => {
      request({ host: '127.0.0.1', port, path: '/', headers: { Host: "evil.com';script-src *" } },
        (res) => { res.resume(); resolve(res.headers['content-security-policy']); }).end();
    });
    assert.doesNotMatch(hostile, /evil|script-src \*/);
  } finally {
    await srv.stop();
  }
  const wss = await serve({ args: ['--chat-url', 'wss://chat.example.com/chat'] });
  try {
    const csp = (await fetch(wss.base + '/')).headers.get('content-security-policy');
    assert.match(csp, /connect-src 'self' wss:\/\/chat\.example\.com;/);
  } finally {
    await wss.stop();
  }
});
