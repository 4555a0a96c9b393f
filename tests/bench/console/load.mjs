// tests/bench/console/load.mjs: agents typing at once in the console, as the server sees
// them: each agent types queries one character at a time at RATE keystrokes a second (the
// intervals jittered ±30%), and every keystroke is the console's request, a prefix search
// with the agent's own session cookie (GET /api/v1/search?q=PREFIX&prefix=1&limit=10). The
// load is open: an agent's next keystroke does not wait for the previous answer, as a person
// does not. Latency is from the request's start to the last byte of its answer, on a
// keep-alive connection per agent.
//
// usage: node load.mjs --base URL [--path /api/v1/search] [--agents 200] [--rate 3]
//                      [--seconds 60] [--warmup 5] --queries FILE [--cookies FILE]
// --cookies: one "kb_session=..." per line (agent i uses line i mod n); --path: the
// reference run points it at a static file (nginx ignores the query string).
import http from 'node:http';
import { readFileSync } from 'node:fs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const base = new URL(args.base);
const path = args.path || '/api/v1/search';
const agents = Number(args.agents || 200);
const rate = Number(args.rate || 3);
const seconds = Number(args.seconds || 60);
const warmup = Number(args.warmup || 5);
const queries = readFileSync(args.queries, 'utf8').split('\n').filter(Boolean);
const cookies = args.cookies ? readFileSync(args.cookies, 'utf8').split('\n').filter(Boolean) : [];

let seed = 42;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);

const lat = [];        // ms, after the warm-up
const status = {};     // status code -> count (after the warm-up)
let sent = 0, errors = 0, inflightMax = 0, inflight = 0;
const t0 = performance.now();
const until = t0 + (warmup + seconds) * 1000;
const measuring = () => performance.now() >= t0 + warmup * 1000;

function request(agent, q) {
  const started = performance.now();
  const counted = measuring();
  const headers = { Accept: 'application/json' };
  if (agent.cookie) headers.Cookie = agent.cookie;
  inflight++;
  inflightMax = Math.max(inflightMax, inflight);
  const req = http.request({
    host: base.hostname, port: base.port, agent: agent.http, headers,
    path: `${path}?q=${encodeURIComponent(q)}&prefix=1&limit=10`,
  }, (res) => {
    res.on('data', () => {});
    res.on('end', () => {
      inflight--;
      if (!counted) return;
      lat.push(performance.now() - started);
      status[res.statusCode] = (status[res.statusCode] || 0) + 1;
    });
  });
  req.on('error', () => { inflight--; if (counted) errors++; });
  req.end();
  if (counted) sent++;
}

function startAgent(i) {
  const agent = {
    http: new http.Agent({ keepAlive: true, maxSockets: 2 }),
    cookie: cookies.length ? cookies[i % cookies.length] : '',
    q: '', k: 0,
  };
  const step = () => {
    if (performance.now() >= until) { agent.http.destroy(); return; }
    if (agent.k >= agent.q.length) { // next query
      agent.q = queries[Math.floor(random() * queries.length)];
      agent.k = 0;
    }
    agent.k++;
    const prefix = agent.q.slice(0, agent.k);
    if (prefix.trim()) request(agent, prefix);
    setTimeout(step, (1000 / rate) * (0.7 + 0.6 * random()));
  };
  // Agents start spread over one keystroke interval.
  setTimeout(step, (1000 / rate) * random());
}

for (let i = 0; i < agents; i++) startAgent(i);

setTimeout(() => {
  lat.sort((a, b) => a - b);
  const pct = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p / 100 * lat.length))] : NaN;
  const out = {
    agents, rate_per_agent: rate, seconds, requests: lat.length, sent,
    per_second: +(lat.length / seconds).toFixed(1), errors, status, inflight_max: inflightMax,
    p50_ms: +pct(50).toFixed(2), p95_ms: +pct(95).toFixed(2), p99_ms: +pct(99).toFixed(2),
    p999_ms: +pct(99.9).toFixed(2), max_ms: +(lat[lat.length - 1] || NaN).toFixed(2),
  };
  console.log(JSON.stringify(out));
  process.exit(0);
}, (warmup + seconds) * 1000 + 3000);
