// tests/bench/chat/load.mjs: websocket load generator for kb's chat (protocol: kb/chat/frames.c).
//
// 1. ramp: opens N connections at RAMP a second, each sends start and waits for started;
// 2. load: for SECONDS, sends messages at a total RATE a second (open loop: a message is due
//    every 1/RATE s whatever the server does), each to the next conversation of a shuffled
//    round, each a French customer line (lines-fr.txt: lines the shipped rules answer, and
//    questions of tests/bench/relevance/questions.tsv the fallback rule searches for), each
//    with a unique id;
// 3. drain: waits up to DRAIN s (10) for the acks and replies still due.
// For every message: the time from its send to the reply frame whose seq is its ack's seq + 1.
// Reports p50/p90/p99/p99.9/max, sent/acked/replied/errors by code/lost (no ack or no reply
// at the end of the drain), per line kind (rules, kb), and, with --window FILE (lines
// "start MS" and "end MS" of wall-clock time, written by run.sh around an import), the
// messages sent inside the window separately. Samples the server (--pid) from /proc: RSS and
// CPU time at start, after the ramp and every --sample-secs; reports RSS per conversation,
// CPU per message, the RSS slope of the last --slope-minutes, and its own CPU use, event-loop
// delay and send lag (what the generator adds to the figures).
// Exit status 1 when a message is lost.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
const opt = {
  url: '', conversations: 10000, rate: 1000, seconds: 60, ramp: 500, pid: 0, 'sample-secs': 10,
  drain: 10, lines: path.join(here, 'lines-fr.txt'),
  questions: path.join(here, '../relevance/questions.tsv'), 'kb-share': 0.4, window: '',
  json: '', label: 'kb', seed: 42, 'slope-minutes': 20,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt) || i + 1 >= process.argv.length) {
    console.error(`load.mjs: unknown or incomplete option ${process.argv[i]}\nusage: node load.mjs ` +
      Object.keys(opt).map((o) => `--${o} V`).join(' '));
    process.exit(2);
  }
  opt[k] = typeof opt[k] === 'number' ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
if (!opt.url) {
  console.error('load.mjs: --url ws://HOST:PORT/chat is required');
  process.exit(2);
}
const N = opt.conversations, R = opt.rate;

// ---- lines ----------------------------------------------------------------------------------
let seed = opt.seed >>> 0;
function rand() { // mulberry32: the same lines in the same order for kb and the reference
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const ruleLines = fs.readFileSync(opt.lines, 'utf8').split('\n').map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const kbLines = fs.readFileSync(opt.questions, 'utf8').split('\n').slice(1)
  .map((l) => l.split('\t')[0].trim()).filter(Boolean);
function pickLine() {
  const kb = rand() < opt['kb-share'];
  const a = kb ? kbLines : ruleLines;
  return [kb ? 1 : 0, a[Math.floor(rand() * a.length)]];
}

// ---- the server's process -------------------------------------------------------------------
const CLK = 100; // clock ticks a second (getconf CLK_TCK on Linux)
function serverSample() {
  if (!opt.pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${opt.pid}/status`, 'utf8');
    const stat = fs.readFileSync(`/proc/${opt.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // f[0] is field 3 (state)
    return {
      rssKB: Number(/VmRSS:\s+(\d+)/.exec(status)[1]),
      cpuS: (Number(f[11]) + Number(f[12])) / CLK, // utime, stime: fields 14, 15
      threads: Number(/Threads:\s+(\d+)/.exec(status)[1]),
    };
  } catch {
    return null;
  }
}

// The server's threads: CPU seconds by thread id, with their names (kb-chat-ws, kb-chat-w1...).
function threadSample() {
  if (!opt.pid) return null;
  const out = {};
  try {
    for (const tid of fs.readdirSync(`/proc/${opt.pid}/task`)) {
      try {
        const st = fs.readFileSync(`/proc/${opt.pid}/task/${tid}/stat`, 'utf8');
        const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
        out[tid] = { comm: st.slice(st.indexOf('(') + 1, st.lastIndexOf(')')),
          cpuS: (Number(f[11]) + Number(f[12])) / CLK };
      } catch { /* the thread ended */ }
    }
  } catch {
    return null;
  }
  return out;
}
// "tid comm NN%" for the busiest threads between two thread samples over dt seconds.
function busiest(a, b, dt, n = 4) {
  if (!a || !b || dt <= 0) return [];
  return Object.entries(b).map(([tid, v]) => ({ tid, comm: v.comm,
    pct: ((v.cpuS - (a[tid]?.cpuS || 0)) / dt) * 100 })).sort((x, y) => y.pct - x.pct).slice(0, n);
}
const fmtThreads = (l) => l.map((t) => `${t.comm} ${t.pct.toFixed(0)}%`).join(', ');

// The whole machine: busy and stolen CPU time (all cores, seconds), to tell what other
// processes took from the run (this VM's cores are shared).
function machineSample() {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
    return { busyS: (user + nice + system + irq + softirq) / CLK, stealS: (steal || 0) / CLK,
      load: fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0] };
  } catch {
    return null;
  }
}

// ---- bookkeeping ----------------------------------------------------------------------------
const t0 = performance.now();
const now = () => performance.now();
const wallOf = (t) => performance.timeOrigin + t;
const convs = [];
const byId = new Map(); // message id -> message waiting for its ack or reply
const errors = {}; // code -> count
const closes = {}; // "code reason" -> count
let started = 0, startFailed = 0, opened = 0, startLat = [];
let sent = 0, acked = 0, replied = 0, overlapped = 0, notSent = 0, unmatched = 0, casesSeen = 0;
let duplicateAcks = 0;
const lat = [], latSentAt = [], latKind = [], ackLat = [];
let intervalLat = [];
const samples = [];
let phase = 'start';

function countError(code) { errors[code] = (errors[code] || 0) + 1; }

function onFrame(c, data) {
  const t = now();
  let f;
  try {
    f = JSON.parse(data.toString('utf8'));
  } catch {
    countError('client:unparsable_frame');
    return;
  }
  switch (f.type) {
  case 'started':
    c.started = true;
    started++;
    startLat.push(t - c.openAt);
    break;
  case 'ack': {
    const m = byId.get(f.id);
    if (!m || m.ackAt !== undefined) { duplicateAcks++; break; }
    m.ackAt = t;
    m.seq = f.seq;
    acked++;
    ackLat.push(t - m.sentAt);
    const early = c.early.get(f.seq + 1);
    if (early !== undefined) { c.early.delete(f.seq + 1); finish(c, m, early); }
    else c.waiting.set(f.seq + 1, m);
    break;
  }
  case 'reply': {
    const m = c.waiting.get(f.seq);
    if (m) { c.waiting.delete(f.seq); finish(c, m, t); }
    else if (c.outstanding > 0) c.early.set(f.seq, t); // before its ack (not expected)
    else unmatched++;
    break;
  }
  case 'error': {
    countError(f.code);
    const m = f.id !== undefined ? byId.get(f.id) : undefined;
    if (m) m.error = f.code;
    else if (!c.started && !c.failed) { c.failed = true; startFailed++; }
    break;
  }
  case 'case': casesSeen++; break;
  default: break; // history (other tabs), anything new
  }
}

function finish(c, m, t) {
  replied++;
  c.outstanding--;
  byId.delete(m.id);
  const l = t - m.sentAt;
  lat.push(l);
  latSentAt.push(wallOf(m.sentAt));
  latKind.push(m.kind);
  intervalLat.push(l);
}

function openConv(i) {
  const c = { i, ws: null, started: false, closed: false, openAt: now(), outstanding: 0,
    waiting: new Map(), early: new Map() };
  convs.push(c);
  opened++;
  const ws = new WebSocket(opt.url, { perMessageDeflate: false, handshakeTimeout: 30000 });
  c.ws = ws;
  ws.on('open', () => ws.send(JSON.stringify({ type: 'start', lang: 'fr', page: '/' })));
  ws.on('message', (data) => onFrame(c, data));
  ws.on('error', (e) => {
    const k = `client:${e.code || e.message}`;
    countError(k);
  });
  ws.on('close', (code, reason) => {
    c.closed = true;
    if (!c.started && !c.failed) { c.failed = true; startFailed++; }
    if (phase !== 'done') {
      const k = `${code} ${reason}`;
      closes[k] = (closes[k] || 0) + 1;
    }
  });
}

// ---- percentiles and printing -----------------------------------------------------------------
function pct(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
function summary(a) {
  const s = Float64Array.from(a).sort();
  return { n: s.length, p50: pct(s, 0.5), p90: pct(s, 0.9), p99: pct(s, 0.99),
    p999: pct(s, 0.999), max: s.length ? s[s.length - 1] : NaN };
}
const ms = (v) => (Number.isFinite(v) ? (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)) : '-');
function line(s) {
  return `p50 ${ms(s.p50)}  p90 ${ms(s.p90)}  p99 ${ms(s.p99)}  p99.9 ${ms(s.p999)}  max ${ms(s.max)} ms (${s.n})`;
}
const mb = (kb) => (kb / 1024).toFixed(1);

let genCpu0 = process.cpuUsage(), genT0 = now();
function sample(label) {
  const s = serverSample();
  const g = process.cpuUsage();
  const st = summary(intervalLat);
  intervalLat = [];
  const mach = machineSample();
  const thr = threadSample();
  const rec = { t: (now() - t0) / 1000, label, rss: s?.rssKB, cpu: s?.cpuS, threads: s?.threads, thr,
    sent, replied, p99: st.p99, genCpu: (g.user + g.system) / 1e6, busy: mach?.busyS,
    steal: mach?.stealS, load: mach?.load };
  samples.push(rec);
  const prev = samples.length > 1 ? samples[samples.length - 2] : null;
  const dt = prev ? rec.t - prev.t : 0;
  const cpuPct = prev && s && prev.cpu !== undefined ? ((rec.cpu - prev.cpu) / dt) * 100 : NaN;
  const genPct = prev ? ((rec.genCpu - prev.genCpu) / dt) * 100 : NaN;
  console.log(`[${rec.t.toFixed(0).padStart(5)} s] ${label.padEnd(10)}` +
    (s ? ` server RSS ${mb(s.rssKB)} MB, CPU ${s.cpuS.toFixed(1)} s` +
      (prev ? ` (${cpuPct.toFixed(0)}% of a core)` : '') : '') +
    ` | sent ${sent} replied ${replied}` + (st.n ? `, interval p99 ${ms(st.p99)} ms` : '') +
    (prev ? ` | generator ${genPct.toFixed(0)}%` : '') +
    (prev && mach && prev.busy !== undefined ? ` | others ${((((rec.busy - prev.busy) - (rec.cpu - prev.cpu || 0) -
      (rec.genCpu - prev.genCpu)) / dt) * 100).toFixed(0)}%, steal ${(((rec.steal - prev.steal) / dt) * 100).toFixed(0)}%, load ${mach.load}` : '') +
    (prev && thr ? ` | busiest server threads ${fmtThreads(busiest(prev.thr, thr, dt, 3))}` : ''));
  return rec;
}

// ---- the run ---------------------------------------------------------------------------------
const LOOP_RES = 5; // ms: the histogram records whole timer intervals, this much is subtracted
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_RES });
console.log(`# ${opt.label}: ${N} conversations (ramp ${opt.ramp}/s), then ${R} messages/s for ` +
  `${opt.seconds} s, drain ${opt.drain} s; ${ruleLines.length} rule lines and ${kbLines.length} ` +
  `knowledge-base questions (share ${opt['kb-share']}); server pid ${opt.pid || '-'}`);
const sBefore = sample('start');

// Ramp.
phase = 'ramp';
const rampT0 = now();
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const due = Math.min(N, Math.floor(((now() - rampT0) / 1000) * opt.ramp) + 1);
    while (opened < due) openConv(opened);
    if (started + startFailed >= N) { clearInterval(timer); resolve(); }
  }, 5);
});
const rampS = (now() - rampT0) / 1000;
const sStart = summary(startLat);
console.log(`ramp: ${started} conversations started, ${startFailed} failed, in ${rampS.toFixed(1)} s; ` +
  `open->started ${line(sStart)}`);
const sRamp = sample('ramp done');

// Load: open loop, message k due at loadT0 + k / R.
phase = 'load';
const live = convs.filter((c) => c.started && !c.closed);
for (let i = live.length - 1; i > 0; i--) { // shuffle
  const j = Math.floor(rand() * (i + 1));
  [live[i], live[j]] = [live[j], live[i]];
}
let cursor = 0, msgNo = 0;
const sendLag = [];
genCpu0 = process.cpuUsage();
genT0 = now();
loopDelay.enable();
const loadT0 = now();
const total = Math.round(R * opt.seconds);
let nextSample = loadT0 + opt['sample-secs'] * 1000;
await new Promise((resolve) => {
  const timer = setInterval(() => {
    const t = now();
    const due = Math.min(total, Math.floor(((t - loadT0) / 1000) * R) + 1);
    while (msgNo < due) {
      const scheduled = loadT0 + (msgNo * 1000) / R;
      msgNo++;
      let c = null;
      for (let k = 0; k < live.length; k++) {
        const cand = live[cursor];
        cursor = (cursor + 1) % live.length;
        if (!cand.closed) { c = cand; break; }
      }
      if (!c) { notSent++; continue; }
      const [kind, text] = pickLine();
      const m = { id: `m${msgNo}`, kind, sentAt: now() };
      if (c.outstanding > 0) overlapped++;
      c.outstanding++;
      byId.set(m.id, m);
      m.conv = c;
      c.ws.send(JSON.stringify({ type: 'message', id: m.id, text }));
      sent++;
      sendLag.push(m.sentAt - scheduled);
    }
    if (t >= nextSample) {
      sample('load');
      nextSample += opt['sample-secs'] * 1000;
    }
    if (msgNo >= total) { clearInterval(timer); resolve(); }
  }, 2);
});
const loadEnd = now();
// Drain.
phase = 'drain';
await new Promise((resolve) => {
  const timer = setInterval(() => {
    if (byId.size === 0 || now() - loadEnd >= opt.drain * 1000) { clearInterval(timer); resolve(); }
  }, 20);
});
const drainS = (now() - loadEnd) / 1000;
loopDelay.disable();
const genCpu = process.cpuUsage(genCpu0);
const genWall = (now() - genT0) / 1000;
const sEnd = sample('end');
phase = 'done';

// ---- report ------------------------------------------------------------------------------------
const all = summary(lat);
const lost = [...byId.values()];
const lostNoAck = lost.filter((m) => m.ackAt === undefined).length;
const lostWithError = lost.filter((m) => m.error).length;
const loadS = (loadEnd - loadT0) / 1000;
console.log(`\n== ${opt.label} ==`);
console.log(`messages: sent ${sent} in ${loadS.toFixed(1)} s (${(sent / loadS).toFixed(0)}/s), ` +
  `acked ${acked}, replied ${replied}, lost ${lost.length} (${lostNoAck} without ack, ` +
  `${lost.length - lostNoAck} acked without reply; ${lostWithError} of them answered by an error frame)` +
  (notSent ? `, not sent (no open conversation) ${notSent}` : ''));
console.log(`throughput: ${(replied / (loadS + drainS)).toFixed(0)} replies/s over load + drain ` +
  `(${(loadS + drainS).toFixed(1)} s); drain took ${drainS.toFixed(1)} s`);
console.log(`errors by code: ${Object.keys(errors).length ? JSON.stringify(errors) : 'none'}; ` +
  `closed by the server: ${Object.keys(closes).length ? JSON.stringify(closes) : 'none'}` +
  (unmatched ? `; unmatched replies ${unmatched}` : '') + (duplicateAcks ? `; duplicate acks ${duplicateAcks}` : '') +
  (casesSeen ? `; case frames ${casesSeen}` : ''));
console.log(`messages sent to a conversation still waiting for a reply: ${overlapped}`);
console.log(`latency send -> reply: ${line(all)}`);
console.log(`latency send -> ack:   ${line(summary(ackLat))}`);
const byKind = [0, 1].map((k) => summary(lat.filter((_, i) => latKind[i] === k)));
console.log(`  rule lines:             ${line(byKind[0])}`);
console.log(`  knowledge-base questions: ${line(byKind[1])}`);

let win = null;
if (opt.window) {
  const w = fs.existsSync(opt.window) ? fs.readFileSync(opt.window, 'utf8') : '';
  const ws0 = Number(/^start (\d+)/m.exec(w)?.[1]);
  const we = Number(/^end (\d+)/m.exec(w)?.[1]);
  if (!ws0) {
    console.log('window: no start in the window file: the import never started during the load');
  } else {
    const end = we || Infinity;
    const before = [], inside = [], after = [];
    lat.forEach((l, i) => (latSentAt[i] < ws0 ? before : latSentAt[i] <= end ? inside : after).push(l));
    const lostIn = lost.filter((m) => wallOf(m.sentAt) >= ws0 && wallOf(m.sentAt) <= end).length;
    const lostAfter = lost.filter((m) => wallOf(m.sentAt) > end).length;
    win = { before: summary(before), inside: summary(inside), after: summary(after),
      outside: summary(before.concat(after)), lostInside: lostIn, lostAfter,
      seconds: we ? (we - ws0) / 1000 : null };
    console.log(`import window: ${we ? `${win.seconds.toFixed(1)} s` : 'still running at the end of the load'}` +
      ` (from ${((ws0 - wallOf(loadT0)) / 1000).toFixed(1)} s into the load)`);
    console.log(`  sent before the import: ${line(win.before)}; lost ${lost.length - lostIn - lostAfter}`);
    console.log(`  sent during the import: ${line(win.inside)}; lost ${lostIn}`);
    console.log(`  sent after it:          ${line(win.after)}; lost ${lostAfter}`);
  }
}

const over = (v) => Math.max(0, v / 1e6 - LOOP_RES);
const ld = { p50: over(loopDelay.percentile(50)), p99: over(loopDelay.percentile(99)),
  max: over(loopDelay.max) };
const lag = summary(sendLag);
const genPct = ((genCpu.user + genCpu.system) / 1e6 / genWall) * 100;
console.log(`generator: ${genPct.toFixed(0)}% of one core during load + drain ` +
  `(user ${(genCpu.user / 1e6).toFixed(1)} s, system ${(genCpu.system / 1e6).toFixed(1)} s); ` +
  `event-loop delay p50 ${ms(ld.p50)} p99 ${ms(ld.p99)} max ${ms(ld.max)} ms; ` +
  `send lag behind schedule p99 ${ms(lag.p99)} max ${ms(lag.max)} ms` +
  (genPct > 80 ? '  ** the generator saturates a core: its own queueing is in the latencies **' : ''));

let machine = null;
if (sRamp.busy !== undefined && sEnd.busy !== undefined) {
  const dt = sEnd.t - sRamp.t;
  const srv = sEnd.cpu !== undefined ? sEnd.cpu - sRamp.cpu : 0;
  const gen = sEnd.genCpu - sRamp.genCpu;
  const busy = sEnd.busy - sRamp.busy;
  machine = { cores: (await import('node:os')).cpus().length, busy: busy / dt, server: srv / dt,
    generator: gen / dt, others: (busy - srv - gen) / dt, steal: (sEnd.steal - sRamp.steal) / dt };
  console.log(`machine during load + drain (${machine.cores} cores): busy ${machine.busy.toFixed(2)} cores = ` +
    `server ${machine.server.toFixed(2)} + generator ${machine.generator.toFixed(2)} + other processes ` +
    `${machine.others.toFixed(2)}; stolen by the hypervisor ${machine.steal.toFixed(2)}` +
    (machine.others > 0.2 ? '  ** other processes shared the cores during this run **' : ''));
}

let threadsLoad = null;
if (sRamp.thr && sEnd.thr) {
  threadsLoad = busiest(sRamp.thr, sEnd.thr, sEnd.t - sRamp.t, 12).filter((t) => t.pct >= 0.5);
  console.log(`server threads during load + drain (% of a core, by thread id): ` +
    threadsLoad.map((t) => `${t.tid}${t.comm === 'kb' ? '' : ` (${t.comm})`} ${t.pct.toFixed(0)}%`).join(', ') +
    (threadsLoad.length && threadsLoad[0].pct > 90 ? `  ** thread ${threadsLoad[0].tid} is saturated **` : ''));
}

let res = null;
if (sBefore.rss !== undefined && sEnd.rss !== undefined) {
  const perConv = ((sRamp.rss - sBefore.rss) * 1024) / Math.max(1, started);
  const cpuLoad = sEnd.cpu - sRamp.cpu;
  const cpuPerMsg = (cpuLoad / Math.max(1, replied)) * 1000;
  console.log(`server: RSS ${mb(sBefore.rss)} MB at start, ${mb(sRamp.rss)} MB after the ramp, ` +
    `${mb(sEnd.rss)} MB at the end; ${(perConv / 1024).toFixed(1)} KB per conversation ` +
    `((after ramp - start) / ${started}); CPU ${cpuLoad.toFixed(1)} s for load + drain = ` +
    `${cpuPerMsg.toFixed(2)} ms per message (${((cpuLoad / (loadS + drainS)) * 100).toFixed(0)}% of a core), ` +
    `ramp ${(sRamp.cpu - sBefore.cpu).toFixed(1)} s (${(((sRamp.cpu - sBefore.cpu) / Math.max(1, started)) * 1000).toFixed(2)} ms per start)`);
  res = { perConvB: perConv, cpuPerMsgMs: cpuPerMsg };
  // RSS slope of the last slope-minutes (least squares), for long runs.
  const span = opt['slope-minutes'] * 60;
  const tEnd = samples[samples.length - 1].t;
  const pts = samples.filter((s) => s.label !== 'start' && s.label !== 'ramp done' && s.t >= tEnd - span);
  if (pts.length >= 3 && tEnd - pts[0].t >= 0.75 * span) {
    const mx = pts.reduce((a, s) => a + s.t, 0) / pts.length;
    const my = pts.reduce((a, s) => a + s.rss, 0) / pts.length;
    const slope = pts.reduce((a, s) => a + (s.t - mx) * (s.rss - my), 0) /
      pts.reduce((a, s) => a + (s.t - mx) ** 2, 0); // KB per second
    res.slopeMBh = (slope * 3600) / 1024;
    console.log(`server RSS slope over the last ${((tEnd - pts[0].t) / 60).toFixed(0)} min ` +
      `(${pts.length} samples): ${res.slopeMBh.toFixed(2)} MB/hour`);
  }
}

if (opt.json) {
  fs.writeFileSync(opt.json, JSON.stringify({
    label: opt.label, conversations: N, started, startFailed, rate: R, seconds: opt.seconds,
    rampS, start: sStart, sent, acked, replied, lost: lost.length, lostNoAck, errors, closes,
    overlapped, latency: all, rules: byKind[0], kb: byKind[1], throughput: replied / (loadS + drainS),
    window: win, generatorCpuPct: genPct, machine, threadsLoad, loopDelay: ld, sendLag: lag, server: res, samples: samples.map(({ thr, ...r }) => r),
  }, null, 1));
}
if (lost.length) {
  console.log(`CHECK FAILED: ${lost.length} messages lost (no ack or no reply ${opt.drain} s after the end)`);
}
process.exit(lost.length ? 1 : 0);
