// tests/bench/bot/bench.mjs: rivescript-js on the same work as bench.c. Prints
// "big R", "rsts R" (replies/s) and "session B" (heap bytes per user session).
import fs from 'node:fs';
import RiveScript from 'rivescript';

const [dir, rounds] = [process.argv[2], Number(process.argv[3] || 20)];

// 1. The 2,000-trigger brain.
const bot = new RiveScript({ utf8: false });
await bot.loadDirectory(`${dir}/big`);
bot.sortReplies();
const inputs = fs.readFileSync(`${dir}/big/inputs.txt`, 'utf8').split('\n').filter(Boolean);
let n = 0;
let t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) for (const m of inputs) { await bot.reply('bench', m); n++; }
console.log(`big ${(n / (Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(0)}`);

// 2. The RSTS plans: each test's brain is built, sorted and chatted with, every round.
const plans = JSON.parse(fs.readFileSync(`${dir}/rsts.json`, 'utf8'));
n = 0;
t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) {
  for (const p of plans) {
    const b = new RiveScript({ utf8: p.utf8 });
    let sorted = false;
    for (const s of p.steps) {
      if (s.source !== undefined) { b.stream(s.source); sorted = false; }
      else if (s.set) for (const [k, v] of Object.entries(s.set)) await b.setUservar(p.username, k, v);
      else {
        if (!sorted) { b.sortReplies(); sorted = true; }
        await b.reply(p.username, s.input);
        n++;
      }
    }
  }
}
console.log(`rsts ${(n / (Number(process.hrtime.bigint() - t0) / 1e9)).toFixed(0)}`);

// 3. Memory per user session: 10,000 users, 5 messages each, on the big brain.
global.gc?.();
const before = process.memoryUsage().heapUsed;
const users = 10000;
for (let u = 0; u < users; u++)
  for (let i = 0; i < 5; i++) await bot.reply(`user${u}`, inputs[(u + i) % inputs.length]);
global.gc?.();
console.log(`session ${((process.memoryUsage().heapUsed - before) / users).toFixed(0)}`);
