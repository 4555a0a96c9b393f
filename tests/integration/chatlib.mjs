// tests/integration/chatlib.mjs: what the chat's tests share: a content folder with the test
// rules (fixtures/chat/bot), a websocket client that waits for frames, and a real CRM
// receiver that checks every delivery's signature with the standardwebhooks package.
import http from 'node:http';
import { cpSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { once } from 'node:events';
import WebSocket from 'ws';
import { Webhook } from 'standardwebhooks';
import { CONTENT, tempDir } from './lib.mjs';

const FIXTURE = new URL('./fixtures/chat', import.meta.url).pathname;

/** A content folder: the shipped articles and synonyms, and the test rules. */
export function chatContent(dir = tempDir('kb-chat-')) {
  const content = join(dir, 'content');
  mkdirSync(content, { recursive: true });
  cpSync(join(CONTENT, 'articles'), join(content, 'articles'), { recursive: true });
  cpSync(join(CONTENT, 'synonyms'), join(content, 'synonyms'), { recursive: true });
  cpSync(join(FIXTURE, 'bot'), join(content, 'bot'), { recursive: true });
  return { dir, content };
}

/** A websocket client that queues every frame it receives (protocols and options as ws's:
 * the agents' channel needs the subprotocol kb-agent, a cookie and an Origin). */
export class Client {
  constructor(url, protocols, options) {
    this.ws = new WebSocket(url, protocols, options);
    this.frames = [];
    this.waiters = [];
    this.closed = null;
    this.refused = null; // the HTTP status of a refused handshake
    this.ws.on('unexpected-response', (req, res) => {
      this.refused = res.statusCode;
      this.closed = { code: 0, reason: `handshake refused (${res.statusCode})` };
      req.destroy();
      this.wake();
    });
    this.ws.on('message', (data, isBinary) => {
      const f = isBinary ? { binary: true } : JSON.parse(data.toString());
      this.frames.push(f);
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    this.ws.on('error', () => {});
  }
  wake() {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  async open() {
    if (this.ws.readyState !== WebSocket.OPEN) await once(this.ws, 'open');
    return this;
  }
  send(obj) { this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
  sendRaw(buf, opts) { this.ws.send(buf, opts); }
  /** The next frame matching pred (removed from the queue); rejects after ms. */
  async next(pred = () => true, ms = 5000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closed) throw new Error(`closed (${this.closed.code}) while waiting; got ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame in ${ms} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
  type(t, ms) { return this.next((f) => f.type === t, ms); }
  async waitClosed(ms = 5000) {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('not closed');
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.closed;
  }
  /** start, and wait for started. */
  async start(fields = {}) {
    this.send({ type: 'start', lang: 'fr', ...fields });
    return this.type('started');
  }
  /** A message and what it brings: its ack and the reply (and a case frame when asked). */
  async say(id, text, { withCase = false, ms = 5000 } = {}) {
    this.send({ type: 'message', id, text });
    const ack = await this.next((f) => f.type === 'ack' && f.id === id, ms);
    const reply = await this.next((f) => f.type === 'reply' && f.seq === ack.seq + 1, ms);
    const kase = withCase ? await this.type('case', ms) : undefined;
    return { ack, reply, kase };
  }
  close() { this.ws.close(); }
  terminate() { this.ws.terminate(); }
}

export async function connect(url) {
  return new Client(url).open();
}

export const SECRET = 'whsec_' + Buffer.from('kb-test-secret-of-32-bytes-long!').toString('base64');

/**
 * A CRM: an HTTP server that verifies every request with standardwebhooks and records it.
 * behave(n, req) decides the n-th answer (1-based): {status, headers, hang}. Defaults to 200.
 */
export async function startReceiver({ port = 0, behave = () => ({ status: 200 }) } = {}) {
  const wh = new Webhook(SECRET);
  const r = {
    requests: [],   // every request: {id, timestamp, idem, verified, body, n}
    events: [],     // verified events the CRM accepted (answered 2xx), parsed, in order
    hanging: [],
    waiters: [],
    behave,
  };
  r.server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const n = r.requests.length + 1;
      let verified = false, parsed;
      try { parsed = wh.verify(body, req.headers); verified = true; } catch { verified = false; }
      const rec = { n, id: req.headers['webhook-id'], timestamp: req.headers['webhook-timestamp'],
        idem: req.headers['idempotency-key'], signature: req.headers['webhook-signature'],
        contentType: req.headers['content-type'], verified, body, at: Date.now() };
      r.requests.push(rec);
      const b = r.behave(n, rec) || { status: 200 };
      const status = b.hang ? 0 : (b.status ?? 200);
      if (verified && status >= 200 && status < 300) r.events.push({ ...parsed, _id: rec.id, _n: n });
      for (const w of r.waiters.splice(0)) w();
      if (b.hang) { r.hanging.push(res); return; }
      res.writeHead(b.status ?? 200, b.headers || {});
      res.end();
    });
  });
  r.server.listen(port, '127.0.0.1');
  await once(r.server, 'listening');
  r.port = r.server.address().port;
  r.url = `http://127.0.0.1:${r.port}/webhooks/kb`;
  r.waitFor = async (pred, ms = 15000) => {
    const deadline = Date.now() + ms;
    while (!pred(r)) {
      if (Date.now() > deadline) throw new Error(`receiver: condition not met in ${ms} ms; ${r.requests.length} requests`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, Math.min(200, deadline - Date.now()));
        r.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  };
  r.close = async () => {
    for (const res of r.hanging) res.destroy();
    r.server.closeAllConnections?.();
    await new Promise((resolve) => r.server.close(resolve));
  };
  return r;
}

/** A conversation of the test rules that ends with a case; resolves to the case frame. */
export async function openCase(c, { name = 'Jean', email = 'jean.dupont@example.fr',
  subject = 'ma facture est fausse', prefix = 'k' } = {}) {
  await c.say(`${prefix}1`, `je m'appelle ${name}`);
  await c.say(`${prefix}2`, 'conseiller');
  await c.say(`${prefix}3`, 'oui');
  await c.say(`${prefix}4`, email);
  const { reply, kase } = await c.say(`${prefix}5`, subject, { withCase: true });
  return { reply, kase };
}
