// tests/bench/bot/gen.mjs: writes the benchmark's inputs to DIR, the same for kb and
// rivescript-js:
//   DIR/big/brain.rive, DIR/big/inputs.txt  2,000 generated triggers and the inputs sent
//   DIR/rsts.json  the RiveScript Test Suite (../shared/data/rsts) as plans: for each test,
//                  its sources, then the messages and `set` steps in order
import fs from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';

const [dir, rstsDir] = process.argv.slice(2);
fs.mkdirSync(`${dir}/big`, { recursive: true });
const words = ['car', 'order', 'invoice', 'delivery', 'refund', 'account', 'password', 'garage',
  'tyre', 'battery', 'warranty', 'contract', 'payment', 'address', 'appointment', 'engine'];
let src = '! version = 2.0\n! sub i\'m = i am\n! array colors = red blue green|dark blue\n\n';
src += '+ hello bot\n- Hello human!\n\n+ my name is *\n- <set name=<formal>>Nice to meet you, <get name>.\n\n';
src += '+ what color is my (@colors) *\n- Your <star2> is <star1>.\n\n+ [please] help [me]\n- How can I help?\n\n';
const inputs = ['hello bot', 'my name is ada', 'what color is my dark blue car', 'please help', 'nothing matches this at all'];
for (let i = 0; i < 2000; i++) {
  const a = words[i % 16], b = words[(i >> 4) % 16], c = words[(i >> 8) % 16];
  const pat = i % 3 === 0 ? `question ${i} about my ${a} *` : i % 3 === 1 ? `how do i change my ${a} ${b} ${i}` : `[the] ${c} ${b} ${a} number ${i}`;
  src += `+ ${pat}\n- Answer ${i} for <star>.\n\n`;
  if (i % 50 === 0) inputs.push(pat.replace('*', 'right now').replace('[the] ', ''));
}
src += '+ *\n- I do not know.\n';
fs.writeFileSync(`${dir}/big/brain.rive`, src);
fs.writeFileSync(`${dir}/big/inputs.txt`, inputs.join('\n') + '\n');

// RSTS: one plan per test, steps kept in order (source / input / set).
const plans = [];
for (const f of fs.readdirSync(rstsDir).filter((f) => f.endsWith('.yml')).sort()) {
  const doc = yaml.load(fs.readFileSync(path.join(rstsDir, f), 'utf8'));
  for (const [name, t] of Object.entries(doc || {})) {
    if (!t || !Array.isArray(t.tests)) continue;
    const steps = [];
    for (const s of t.tests) {
      if (s.source !== undefined) steps.push({ source: String(s.source) });
      else if (s.input !== undefined) steps.push({ input: String(s.input) });
      else if (s.set) steps.push({ set: Object.fromEntries(Object.entries(s.set).map(([k, v]) => [k, String(v)])) });
    }
    plans.push({ name, utf8: t.utf8 === true, username: t.username || 'localuser', steps });
  }
}
fs.writeFileSync(`${dir}/rsts.json`, JSON.stringify(plans));
