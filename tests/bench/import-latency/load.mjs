// tests/bench/import-latency/load.mjs: a steady stream of readers against kb serve, in open
// loop (each request leaves at its scheduled time whether or not the previous ones have
// answered, and its latency counts from that time: a stalled server cannot hide its stall by
// slowing the client down). Requests, in turn: an article page, the search API with a random
// 2-4 word query, the home page. node:http over keep-alive connections (undici's fetch cost
// this generator 1-2 ms of CPU a request: on a shared 2-core machine it fell behind before
// kb did). Its own lateness is measured and printed per phase: the lag of each request's
// start behind its scheduled time, and the event loop's delay; a latency is kb's only when
// these are small.
// Phases: "before" from the start; SIGUSR1 starts "during", SIGUSR2 "after"; SIGTERM (or
// --seconds) stops, waits for the answers in flight and prints, per phase and kind of
// request: count, p50, p90, p99, p99.9, max, and the answers that were not 200.
// usage: node load.mjs --base URL --rate N --queries FILE --slugs a,b,c [--seconds S]
// Node 20, no packages.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => {
  if (a.startsWith('--')) acc.push([a.slice(2), all[i + 1]]);
  return acc;
}, []));
const base = args.base;
const rate = Number(args.rate ?? 150);
const seconds = args.seconds ? Number(args.seconds) : Infinity;
const queries = readFileSync(args.queries, 'utf8').split('\n').filter(Boolean);
const slugs = args.slugs.split(',');

let phase = 'before';
const phases = ['before'];

// Seeded choice of queries, so that runs compare.
let seed = 42;
const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };

const lat = {}; // phase -> kind -> [ms]
const bad = {}; // phase -> kind -> count of non-200 answers or errors
const record = (ph, kind, ms, ok) => {
  ((lat[ph] ??= {})[kind] ??= []).push(ms);
  if (!ok) (bad[ph] ??= {})[kind] = ((bad[ph] ??= {})[kind] ?? 0) + 1;
};

let inflight = 0, sent = 0, stopping = false;
const kinds = ['article', 'search', 'home'];
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const url = new URL(base);
const lag = {}; // phase -> [ms]: how late each request left
let loopDelay = monitorEventLoopDelay({ resolution: 5 });
loopDelay.enable();
const loopDelays = {}; // phase -> {p99, max} in ms
const endPhase = (ph) => {
  loopDelays[ph] = { p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  loopDelay.disable();
  loopDelay = monitorEventLoopDelay({ resolution: 5 });
  loopDelay.enable();
};
function request(i, scheduled) {
  const kind = kinds[i % 3];
  const path = kind === 'article' ? `/a/${slugs[Math.floor(rnd() * slugs.length)]}`
    : kind === 'search' ? `/api/v1/search?lang=fr&q=${encodeURIComponent(queries[Math.floor(rnd() * queries.length)])}`
    : '/?lang=fr';
  const ph = phase;
  inflight++;
  (lag[ph] ??= []).push(performance.now() - scheduled);
  let done = false;
  const finish = (ok) => {
    if (done) return;
    done = true;
    inflight--;
    record(ph, kind, performance.now() - scheduled, ok);
  };
  const req = http.get({ host: url.hostname, port: url.port, path, agent }, (res) => {
    res.on('data', () => {});
    res.on('end', () => finish(res.statusCode === 200));
    res.on('error', () => finish(false));
  });
  req.on('error', () => finish(false));
}
process.on('SIGUSR1', () => { endPhase(phase); phase = 'during'; phases.push(phase); });
process.on('SIGUSR2', () => { endPhase(phase); phase = 'after'; phases.push(phase); });

const t0 = performance.now();
const interval = 1000 / rate;
function tick() {
  if (stopping) return;
  const now = performance.now();
  // Every request whose time has come leaves now, stamped with its scheduled time.
  while (t0 + sent * interval <= now) {
    request(sent, t0 + sent * interval);
    sent++;
  }
  if (now - t0 >= seconds * 1000) { stop(); return; }
  setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()));
}

function pct(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] : NaN;
}

async function stop() {
  if (stopping) return;
  stopping = true;
  const deadline = performance.now() + 30000;
  while (inflight > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const fmt = (x) => (Number.isNaN(x) ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1));
  endPhase(phase);
  console.log(`rate ${rate}/s, ${sent} requests sent, ${inflight} unanswered at the end`);
  for (const ph of phases) {
    const l = (lag[ph] ?? []).sort((a, b) => a - b);
    console.log(`${ph.padEnd(6)} generator: start lag p99 ${fmt(pct(l, 0.99))} max ${fmt(l.length ? l[l.length - 1] : NaN)} ms, ` +
      `event loop delay p99 ${fmt(loopDelays[ph]?.p99 ?? NaN)} max ${fmt(loopDelays[ph]?.max ?? NaN)} ms`);
  }
  for (const ph of phases) {
    const all = [];
    for (const kind of [...kinds, 'all']) {
      const v = kind === 'all' ? all.sort((a, b) => a - b) : (lat[ph]?.[kind] ?? []).sort((a, b) => a - b);
      if (kind !== 'all') all.push(...v);
      const nb = kind === 'all' ? Object.values(bad[ph] ?? {}).reduce((a, b) => a + b, 0) : (bad[ph]?.[kind] ?? 0);
      console.log(`${ph.padEnd(6)} ${kind.padEnd(7)} n ${String(v.length).padStart(6)}  p50 ${fmt(pct(v, 0.5))}  ` +
        `p90 ${fmt(pct(v, 0.9))}  p99 ${fmt(pct(v, 0.99))}  p99.9 ${fmt(pct(v, 0.999))}  ` +
        `max ${fmt(v.length ? v[v.length - 1] : NaN)} ms  not-200 ${nb}`);
    }
  }
  process.exit(0);
}
process.on('SIGTERM', stop);
tick();
