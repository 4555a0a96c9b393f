#!/usr/bin/python3
"""Replicate the service-public articles into OUT until N articles (new slugs, same text),
and write OUT/../queries.txt: random 2-4 word queries drawn from the corpus vocabulary, and
OUT/../queries-common.txt: as many 2-4 word queries drawn from the 400 commonest words of the
titles (words of two letters or more, stop words included: what customers type).
usage: make-corpus.py SRC OUT N [QUERIES]"""
import os
import random
import re
import sys

src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
nq = int(sys.argv[4]) if len(sys.argv) > 4 else 20000
files = sorted(f for f in os.listdir(src) if f.endswith('.md'))
texts = [open(os.path.join(src, f), encoding='utf-8').read() for f in files]
os.makedirs(out, exist_ok=True)
for i in range(n):
    t = texts[i % len(texts)]
    copy = i // len(texts)
    folder = os.path.join(out, f'r{copy:03d}')
    if i % len(texts) == 0:
        os.makedirs(folder, exist_ok=True)
    slug = re.search(r'^slug:\s*(\S+)', t, re.M).group(1)
    t2 = re.sub(r'^slug:\s*\S+', f'slug: {slug}-r{copy}', t, count=1, flags=re.M)
    with open(os.path.join(folder, f'{slug}-r{copy}.md'), 'w', encoding='utf-8') as f:
        f.write(t2)
rng = random.Random(42)
vocab = sorted({w.lower() for t in texts for w in re.findall(r'[^\W\d_]{4,}', t.split('---', 2)[-1])})
with open(os.path.join(os.path.dirname(os.path.abspath(out)), 'queries.txt'), 'w', encoding='utf-8') as f:
    for _ in range(nq):
        f.write(' '.join(rng.choice(vocab) for _ in range(rng.randint(2, 4))) + '\n')
titles = [re.search(r'^title:\s*"?(.*?)"?\s*$', t, re.M).group(1) for t in texts]
counts = {}
for title in titles:
    for w in re.findall(r'[^\W\d_]{2,}', title.lower()):
        counts[w] = counts.get(w, 0) + 1
common = sorted(counts, key=lambda w: (-counts[w], w))[:400]
rng = random.Random(43)
with open(os.path.join(os.path.dirname(os.path.abspath(out)), 'queries-common.txt'), 'w', encoding='utf-8') as f:
    for _ in range(nq):
        f.write(' '.join(rng.choice(common) for _ in range(rng.randint(2, 4))) + '\n')
print(f'{n} articles in {out}, {len(vocab)} words of vocabulary, {nq} queries')
