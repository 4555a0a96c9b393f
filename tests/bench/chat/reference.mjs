// tests/bench/chat/reference.mjs: the reference for the chat benchmark. A minimal server of
// kb's chat protocol (kb/chat/frames.c) on the `ws` package, the bot answered by rivescript-js
// from the same shipped rules (content/bot/fr/*.rive), in one Node process (one core):
//   start   -> started (a random token, seq 0); resume is not supported
//   message -> ack (the customer's seq) then reply (the bot's seq), both always sent after
//              the reply is computed, as kb sends them after its commit; a message id the
//              conversation already has gets its ack again and no reply
//   end     -> the connection closes
// It keeps nothing on disk (kb stores every turn in SQLite in one transaction), and the rules'
// <call> macros are stubs: kb_search returns "" (kb searches the knowledge base and puts the
// best article in the reply), case_open returns a made-up reference without storing a case,
// case_status and set_lang return "". Messages of one conversation are answered in order.
// usage: node reference.mjs RULES_DIR [PORT]   prints "chat on ws://127.0.0.1:PORT/chat"
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import RiveScript from 'rivescript';
import { WebSocketServer } from 'ws';

const [rulesDir, portArg] = [process.argv[2], Number(process.argv[3] || 0)];
if (!rulesDir) {
  console.error('usage: node reference.mjs RULES_DIR [PORT]');
  process.exit(2);
}

const bot = new RiveScript({ utf8: true });
const files = fs.readdirSync(rulesDir).filter((f) => f.endsWith('.rive')).sort();
await bot.loadFile(files.map((f) => path.join(rulesDir, f)));
bot.sortReplies();
let cases = 0;
bot.setSubroutine('kb_search', () => '');
bot.setSubroutine('case_open', () => `KB-2026-${String(++cases).padStart(6, '0')}`);
bot.setSubroutine('case_status', () => '');
bot.setSubroutine('set_lang', () => '');

const wss = new WebSocketServer({ host: '127.0.0.1', port: portArg, path: '/chat',
  perMessageDeflate: false, maxPayload: 4096 });
let nextConv = 0;

function send(ws, obj) {
  if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(obj));
}

wss.on('connection', (ws) => {
  let conv = null; // {user, seq, ids: Map, chain: Promise}
  ws.on('message', (data, isBinary) => {
    let f;
    try {
      f = isBinary ? null : JSON.parse(data.toString('utf8'));
    } catch {
      f = null;
    }
    if (!f || typeof f !== 'object' || typeof f.type !== 'string') {
      send(ws, { type: 'error', code: 'bad_frame', message: 'frame is not a JSON object' });
      return;
    }
    if (f.type === 'start') {
      if (conv) {
        send(ws, { type: 'error', code: 'bad_frame', message: 'this connection has started already' });
        return;
      }
      conv = { user: `c${++nextConv}`, seq: 0, ids: new Map(), chain: Promise.resolve() };
      const token = crypto.randomBytes(32).toString('base64url');
      send(ws, { type: 'started', conversation: token, resumed: false, seq: 0 });
    } else if (f.type === 'message') {
      if (!conv) {
        send(ws, { type: 'error', code: 'not_started', message: 'send a start frame first' });
        return;
      }
      if (typeof f.id !== 'string' || typeof f.text !== 'string' || !f.id || !f.text.trim()) {
        send(ws, { type: 'error', code: 'bad_frame', message: 'message needs "id" and "text"' });
        return;
      }
      const c = conv;
      c.chain = c.chain.then(async () => {
        if (c.ids.has(f.id)) {
          send(ws, { type: 'ack', id: f.id, seq: c.ids.get(f.id) });
          return;
        }
        let text;
        try {
          text = await bot.reply(c.user, f.text.trim());
        } catch (e) {
          send(ws, { type: 'error', code: 'server_error', message: String(e) });
          return;
        }
        const seq = ++c.seq;
        c.ids.set(f.id, seq);
        const bseq = ++c.seq;
        send(ws, { type: 'ack', id: f.id, seq });
        send(ws, { type: 'reply', seq: bseq, text, quick_replies: [], articles: [] });
      });
    } else if (f.type === 'end') {
      ws.close(1000, 'conversation ended');
    } else {
      send(ws, { type: 'error', code: 'bad_frame', message: 'unknown frame type' });
    }
  });
  ws.on('error', () => {});
});

wss.on('listening', () => {
  console.log(`chat on ws://127.0.0.1:${wss.address().port}/chat`);
  console.log(`listening (reference, ${files.length} rule files, pid ${process.pid})`);
});
