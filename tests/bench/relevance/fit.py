#!/usr/bin/python3
"""Fit the search constants on several question sets together, and say how each set fares
when it is left out of the fit.

Each configuration is a value for each --param (their Cartesian product), passed to kb serve
as KB_SEARCH_TUNE (search/query.cc); the shipped constants are the configuration "default",
always run. For every configuration the run prints MRR@10 on each set and the mean over the
sets (each set counts the same, whatever its size), then:

  - the best configuration by that mean, its change on each set against the default, and
    its worst change on any set;
  - leave one set out: for each set, the configuration that is best on the other sets, and
    what it gives on the set left out (against the default there).

usage: tests/bench/relevance/fit.py --kb build-bench/kb/cli/kb [--sets fit]
           [--param NAME=V1,V2,...]... [--base NAME=V,...] [--typos] [--seed N] [--verbatim]
  e.g. fit.py --kb build-bench/kb/cli/kb --param qword=0,0.5,1 --param title=0.5,1
--base adds fixed settings to every configuration but the default. With --typos every
question is asked with one typo instead (run.py's typo()).
"""
import argparse
import itertools
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument('--kb', required=True)
    ap.add_argument('--sets', default='fit', help='question sets (run.py --sets; default fit)')
    ap.add_argument('--param', action='append', default=[], metavar='NAME=V1,V2,...')
    ap.add_argument('--base', default='', metavar='NAME=V,...')
    ap.add_argument('--typos', action='store_true')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--verbatim', action='store_true', help='search without typo correction')
    args = ap.parse_args()
    extra = {'verbatim': 1} if args.verbatim else {}
    kb = os.path.abspath(args.kb)
    sets = run.pick_sets(args.sets)
    names = [os.path.basename(p)[:-4].replace('questions-', '').replace('questions', 'tuning')
             for p, _ in sets]
    questions = []
    for path, _ in sets:
        q = run.load_questions(path)
        if args.typos:
            q, _ = run.typed_questions(q, args.seed)
        questions.append(q)
    grid = [p.split('=', 1) for p in args.param]
    configs = [('default', '')]
    for values in itertools.product(*[g[1].split(',') for g in grid]):
        tune = ','.join(f'{g[0]}={v}' for g, v in zip(grid, values))
        full = ','.join(x for x in (args.base, tune) if x)
        if full:
            configs.append((full, full))
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {}
        for _, corpus in sets:
            if corpus not in dbs:
                dbs[corpus] = run.kb_import(kb, corpus, tmp)
        print(' '.join(f'{n[:9]:>9}' for n in names) + f' {"mean":>7}  config', flush=True)
        for label, tune in configs:
            servers = {c: run.KbServer(kb, db, {'KB_SEARCH_TUNE': tune}) for c, db in dbs.items()}
            try:
                row = []
                for (path, corpus), qs in zip(sets, questions):
                    srv = servers[corpus]
                    row.append(run.score(lambda q: [r['slug'] for r in srv.ask(q, **extra)['results']],
                                         qs)[2])
            finally:
                for s in servers.values():
                    s.close()
            table[label] = row
            print(' '.join(f'{m:9.3f}' for m in row) + f' {sum(row) / len(row):7.4f}  {label}',
                  flush=True)
    default = table['default']
    mean = {k: sum(v) / len(v) for k, v in table.items()}
    best = max(table, key=lambda k: mean[k])
    print(f'\nbest by mean: {best} ({mean[best]:.4f}, default {mean["default"]:.4f})')
    for n, b, d in zip(names, table[best], default):
        print(f'  {n:22} {d:.3f} -> {b:.3f} ({b - d:+.3f})')
    print(f'  worst change on a set: {min(b - d for b, d in zip(table[best], default)):+.3f}')
    print('\nleave one set out: the configuration best on the other sets, on the one left out')
    for i, n in enumerate(names):
        pick = max(table, key=lambda k: sum(v for j, v in enumerate(table[k]) if j != i))
        print(f'  {n:22} {default[i]:.3f} -> {table[pick][i]:.3f} '
              f'({table[pick][i] - default[i]:+.3f})  with {pick}')


if __name__ == '__main__':
    main()
