#!/usr/bin/env bash
# Page and API latency while a large import runs beside the server: kb serve on the shipped
# content, readers at a steady rate in open loop (load.mjs: an article page, the search API
# with a random 2-4 word query, the home page, in turn), BEFORE seconds without an import
# (the baseline, same run), then `kb import` of N service-public articles (scale/make-corpus.py)
# into the database being served, then AFTER seconds more. First, the same import alone (no
# server, no load) into a copy of the same database, for its time. Prints the import's
# duration and CPU alone and beside the server, each phase's latency percentiles per kind of
# request, and the CPU each phase took: kb serve's, the load generator's, the import's and
# that of every other process on the machine ("others", in cores: the machine is shared).
# Target: p99 under 50 ms during the import.
# usage: tests/bench/import-latency/run.sh [N (50000)] [RATE requests/s (150)] [BUILD_DIR]
# env: BEFORE (20 s), AFTER (10 s), THREADS (kb serve --threads, 2), ALONE=0 skips the import
#      alone, KEEP=DIR (the server's log, the import's output, the load report),
#      WAIT_QUIET=SECONDS: before each import, wait (at most that long) until the other
#      processes have used less than 0.3 of a core for 20 s (their share is printed anyway)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
n=${1:-50000}
rate=${2:-150}
build=${3:-build-bench}
before=${BEFORE:-20}
after=${AFTER:-10}
threads=${THREADS:-2}
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null
ninja -C "$build" kb/cli/kb >/dev/null
kb=$build/kb/cli/kb
tmp=$(mktemp -d)
server= ; load=
keep() { [ -n "${KEEP:-}" ] || return 0; mkdir -p "$KEEP"; cp "$tmp"/*.txt "$tmp"/*.log "$KEEP"/ 2>/dev/null || true; }
trap '[ -n "$load" ] && kill $load 2>/dev/null; [ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null; keep; rm -rf "$tmp"' EXIT

hz=$(getconf CLK_TCK)
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; } # all CPUs, ticks
pcpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }                      # utime + stime
wait_quiet() {
  [ -n "${WAIT_QUIET:-}" ] || return 0
  local t0=$SECONDS a b cores
  while :; do
    a=$(busy); sleep 20; b=$(busy)
    cores=$(awk -v a="$a" -v b="$b" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / 20}')
    if awk -v c="$cores" 'BEGIN {exit !(c < 0.3)}' || [ $((SECONDS - t0)) -ge "$WAIT_QUIET" ]; then
      echo "(waited $((SECONDS - t0)) s for a quiet machine: the other processes last used $cores cores)"
      return 0
    fi
  done
}
snap() { echo "$(date +%s.%N) $(busy) $(pcpu "$server") $(pcpu "$load")"; }
# cpu PHASE SNAP_A SNAP_B [IMPORT_CPU_S]: the CPU of a phase, in cores.
cpu() {
  /usr/bin/python3 - "$hz" "$1" "$2" "$3" "${4:-0}" <<'PY'
import sys
hz, name, a, b, imp = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), float(sys.argv[5])
hz = float(hz)
secs = float(b[0]) - float(a[0])
d = [(float(y) - float(x)) / hz for x, y in zip(a[1:], b[1:])]
total, kb, load = d
others = total - kb - load - imp
print(f'{name:6} {secs:6.1f} s: kb serve {kb / secs:.2f} cores, load generator {load / secs:.2f}, '
      f'import {imp / secs:.2f}, others {max(others, 0) / secs:.2f} (load average {open("/proc/loadavg").read().split()[0]})')
PY
}

/usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr "$tmp/corpus" "$n" 5000 >/dev/null
"$kb" --db "$tmp/kb.db" import content >/dev/null 2>&1
echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "${ALONE:-1}" != 0 ]; then
  # The same import alone, into a copy of the same database (the WAL was checkpointed and
  # removed when the first import closed it).
  wait_quiet
  cp "$tmp/kb.db" "$tmp/alone.db"
  cp -r "$tmp/kb.db.index" "$tmp/alone.db.index"
  b0=$(busy)
  /usr/bin/time -f '%e %U %S' -o "$tmp/alone.time" "$kb" --db "$tmp/alone.db" import "$tmp/corpus" > "$tmp/alone.log" 2>&1
  b1=$(busy)
  read -r e u sy < "$tmp/alone.time"
  /usr/bin/python3 -c "print(f'import alone: $n articles in $e s = {$n / $e:.0f} articles/s; CPU {$u + $sy:.1f} s ($u user, $sy system); others {max(($b1 - $b0) / $hz - $u - $sy, 0) / $e:.2f} cores')"
  rm -rf "$tmp"/alone.db*
fi
wait_quiet
"$kb" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads "$threads" > "$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$tmp/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$tmp/serve.log" | head -1)
# The public published French articles of the shipped content: pages an anonymous reader
# may open.
slugs=$(grep -L -e '^audience: internal' -e '^status: \(draft\|review\|archived\)' \
  $(grep -rl '^lang: fr' content/articles) | xargs grep -h '^slug:' | awk '{print $2}' | paste -sd, -)

echo "kb serve --threads $threads on the shipped content; $rate requests/s (article, search, home in turn); import of $n articles after ${before} s"
node "$here/load.mjs" --base "$url" --rate "$rate" --queries "$tmp/queries.txt" --slugs "$slugs" > "$tmp/load.txt" 2>&1 &
load=$!
s0=$(snap)
sleep "$before"
kill -USR1 "$load"
s1=$(snap)
/usr/bin/time -f '%e %U %S %M' -o "$tmp/import.time" "$kb" --db "$tmp/kb.db" import "$tmp/corpus" > "$tmp/import.log" 2>&1
s2=$(snap)
kill -USR2 "$load"
sleep "$after"
s3=$(snap)
kill -TERM "$load"
wait "$load" || true
load=
read -r e u sy rss < "$tmp/import.time"
echo "import beside the server: $(grep -E 'files:' "$tmp/import.log" | tail -1)"
/usr/bin/python3 -c "print(f'import beside the server: $n articles in $e s = {$n / $e:.0f} articles/s; CPU {$u + $sy:.1f} s ($u user, $sy system), max RSS {$rss / 1024:.0f} MB')"
echo "CPU by phase:"
cpu before "$s0" "$s1"
cpu during "$s1" "$s2" "$(/usr/bin/python3 -c "print($u + $sy)")"
cpu after "$s2" "$s3"
echo "latency (ms, from each request's scheduled time):"
cat "$tmp/load.txt"
echo "server errors logged: $(grep -c '"level":"error"' "$tmp/serve.log" || true)"
