// tests/bench/bot/gen.mjs: writes the benchmark brain (2,000 generated triggers plus a few
// RSTS-like rules) to DIR/brain.rive and the inputs to DIR/inputs.txt.
import fs from 'node:fs';
const dir = process.argv[2];
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
fs.writeFileSync(`${dir}/brain.rive`, src);
fs.writeFileSync(`${dir}/inputs.txt`, inputs.join('\n') + '\n');
