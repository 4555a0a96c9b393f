#!/usr/bin/python3
"""Fit the search constants on several question sets together, and say how each set fares
when it is left out of the fit.

Each configuration is a value for each --param (their Cartesian product), passed to kb serve
as KB_SEARCH_TUNE (search/query.cc); the shipped constants are the configuration "default",
always run. For every configuration the run prints MRR@10 on each set, and the score it is
chosen by: the mean change against the reference (--reference, else the default) over the fit
sets (run.py's SETS; each set counts the same, whatever its size), a loss counting twice, so
that what helps every set wins over what helps one a lot. Held-out sets are measured, never
used to choose. Then:

  - the best configuration by that score, its change on each set against the reference, and
    its worst change on a fit set;
  - leave one set out: for each fit set, the configuration that is best on the other fit sets,
    and what it gives on the set left out (against the reference there); a held-out set is
    left out of every choice already.

usage: tests/bench/relevance/fit.py --kb build-bench/kb/cli/kb [--sets all]
           [--param NAME=V1,V2,...]... [--base NAME=V,...] [--reference NAME=V,...]
           [--typos] [--seed N] [--verbatim]
  e.g. fit.py --kb build-bench/kb/cli/kb --reference stop=0,cover=0 \
           --param stop=0,1,1.5,2 --param cover=0,0.15,0.25,0.4 --param title=0.5,0.75
--base adds fixed settings to every configuration but the default; --param A+B=... gives A
and B the same values. With --typos every question is asked with one typo instead (run.py's
typo()); with --verbatim, without typo correction.
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
    ap.add_argument('--sets', default='all', help='question sets (run.py --sets; default all)')
    ap.add_argument('--param', action='append', default=[], metavar='NAME=V1,V2,...')
    ap.add_argument('--base', default='', metavar='NAME=V,...')
    ap.add_argument('--reference', default='', metavar='NAME=V,...',
                    help='compare with this configuration instead of the default')
    ap.add_argument('--typos', action='store_true')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--verbatim', action='store_true', help='search without typo correction')
    args = ap.parse_args()
    extra = {'verbatim': 1} if args.verbatim else {}
    kb = os.path.abspath(args.kb)
    sets = run.pick_sets(args.sets)
    names = [os.path.basename(p)[:-4].replace('questions-', '').replace('questions', 'tuning')
             for p, _ in sets]
    roles = {name: role for name, _, role in run.SETS}
    fit = [i for i, (p, _) in enumerate(sets) if roles.get(os.path.basename(p)) == 'fit']
    if not fit:
        sys.exit('no fit set among --sets')
    questions = []
    for path, _ in sets:
        q = run.load_questions(path)
        if args.typos:
            q, _ = run.typed_questions(q, args.seed)
        questions.append(q)
    grid = [p.split('=', 1) for p in args.param]
    configs = [('default', '')]
    ref = 'default'
    if args.reference:
        ref = 'reference ' + args.reference
        configs.append((ref, args.reference))
    for values in itertools.product(*[g[1].split(',') for g in grid]):
        tune = ','.join(f'{n}={v}' for g, v in zip(grid, values) for n in g[0].split('+'))
        full = ','.join(x for x in (args.base, tune) if x)
        if full:
            configs.append((full, full))
    table = {}
    with tempfile.TemporaryDirectory() as tmp:
        dbs = {}
        for _, corpus in sets:
            if corpus not in dbs:
                dbs[corpus] = run.kb_import(kb, corpus, tmp)
        print(' '.join(f'{n[:9]:>9}' for n in names) + f' {"score":>7}  config', flush=True)
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
            shown = score(row, table[ref], fit) if ref in table else 0.0
            print(' '.join(f'{m:9.3f}' for m in row) + f' {shown:+7.4f}  {label}', flush=True)
    default = table[ref]
    best = max(table, key=lambda k: score(table[k], default, fit))
    print(f'\nbest by score: {best} ({score(table[best], default, fit):+.4f}; mean MRR@10 of the '
          f'fit sets {sum(table[best][i] for i in fit) / len(fit):.4f}, {ref} '
          f'{sum(default[i] for i in fit) / len(fit):.4f})')
    for i, (n, b, d) in enumerate(zip(names, table[best], default)):
        print(f'  {n:22} {d:.3f} -> {b:.3f} ({b - d:+.3f}){"" if i in fit else "  held out"}')
    print(f'  worst change on a fit set: {min(table[best][i] - default[i] for i in fit):+.3f}')
    print('\nleave one set out: the configuration best on the other fit sets, on the one left out '
          f'(against {ref})')
    for i, n in enumerate(names):
        others = [j for j in fit if j != i]
        pick = max(table, key=lambda k: score(table[k], default, others)) if others else 'default'
        print(f'  {n:22} {default[i]:.3f} -> {table[pick][i]:.3f} '
              f'({table[pick][i] - default[i]:+.3f})  with {pick}')


def score(row, default, sets):
    """Mean change of row against default over sets, a loss counting twice."""
    d = [row[i] - default[i] for i in sets]
    return sum(x + min(x, 0.0) for x in d) / len(d)


if __name__ == '__main__':
    main()
