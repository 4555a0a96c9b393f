// tests/bench/bot/bench.mjs: rivescript-js replies per second on DIR (same inputs as bench.c).
import fs from 'node:fs';
import RiveScript from 'rivescript';
const [dir, rounds] = [process.argv[2], Number(process.argv[3] || 20)];
const bot = new RiveScript({ utf8: false });
await bot.loadDirectory(dir);
bot.sortReplies();
const inputs = fs.readFileSync(`${dir}/inputs.txt`, 'utf8').split('\n').filter(Boolean);
let n = 0;
const t0 = process.hrtime.bigint();
for (let r = 0; r < rounds; r++) for (const m of inputs) { await bot.reply('bench', m); n++; }
const s = Number(process.hrtime.bigint() - t0) / 1e9;
console.log((n / s).toFixed(0));
