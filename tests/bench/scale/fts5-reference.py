#!/usr/bin/python3
"""FTS5 reference for the scale benchmark: the same corpus and queries, SQLite FTS5
(unicode61 remove_diacritics 2), ORDER BY bm25() LIMIT 10. usage: fts5-reference.py DIR QUERIES"""
import os
import re
import sqlite3
import sys
import time

corpus, qfile = sys.argv[1], sys.argv[2]
db = sqlite3.connect(':memory:')
db.execute('CREATE VIRTUAL TABLE d USING fts5(slug UNINDEXED, title, body, '
           'tokenize="unicode61 remove_diacritics 2")')
t0 = time.perf_counter()
rows = []
for root, _, files in os.walk(corpus):
    for name in files:
        if name.endswith('.md'):
            t = open(os.path.join(root, name), encoding='utf-8').read()
            m = re.match(r'^---\n(.*?)\n---\n(.*)$', t, re.S)
            title = re.search(r'^title:\s*(.*)$', m.group(1), re.M).group(1)
            rows.append((name, title, m.group(2)))
db.executemany('INSERT INTO d VALUES (?, ?, ?)', rows)
load = time.perf_counter() - t0
queries = [l.strip() for l in open(qfile, encoding='utf-8') if l.strip()][:5000]
lat = []
for q in queries:
    match = ' OR '.join('"' + w + '"' for w in q.split())
    s = time.perf_counter()
    db.execute('SELECT slug FROM d WHERE d MATCH ? ORDER BY bm25(d) LIMIT 10', (match,)).fetchall()
    lat.append((time.perf_counter() - s) * 1e3)
lat.sort()
n = len(lat)
print(f'fts5: {len(rows)} articles loaded in {load:.1f} s ({len(rows) / load:.0f}/s); '
      f'{n} queries: p50 {lat[n // 2]:.3f} ms, p99 {lat[n * 99 // 100]:.3f} ms')
