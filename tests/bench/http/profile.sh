#!/usr/bin/env bash
# Where the CPU of one search goes over HTTP: kb serve (a release build with debug symbols,
# build-prof) under wrk with one query set of run.sh, its CPU time per request (from /proc
# over the whole wrk run), and 10 s of perf samples with DWARF call graphs, each sample given
# to one stage by stages.py (parse, correction, query building, Xapian matcher, facets,
# snippets, JSON, HTTP...).
# usage: tests/bench/http/profile.sh [N articles (535)] [SET: common | rare (common)] [BUILD_DIR]
# env: SECS (wrk run, 25), KEEP=DIR keeps perf.data, the script output and the queries.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../.."
n=${1:-535}
set=${2:-common}
build=${3:-build-prof}
secs=${SECS:-25}
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)"; exit 1; }
command -v wrk >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Ddebug=true >/dev/null
ninja -C "$build" kb/cli/kb >/dev/null
tmp=$(mktemp -d)
kbpid=
keep() { [ -n "${KEEP:-}" ] || return 0; mkdir -p "$KEEP"; cp "$tmp"/perf.data "$tmp"/script.txt "$tmp"/wrk.txt "$KEEP"/ 2>/dev/null || true; }
trap '[ -n "$kbpid" ] && kill $kbpid 2>/dev/null; keep; rm -rf "$tmp"' EXIT
/usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr "$tmp/corpus" "$n" 5000 >/dev/null
[ "$set" = common ] && q="$tmp/queries-common.txt" || q="$tmp/queries.txt"
"$build/kb/cli/kb" --db "$tmp/kb.db" import "$tmp/corpus" >/dev/null 2>&1
"$build/kb/cli/kb" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads 2 > "$tmp/kb.out" 2>/dev/null &
kbpid=$!
for _ in $(seq 100); do grep -q listening "$tmp/kb.out" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$tmp/kb.out" | head -1)
/usr/bin/python3 - "$q" "$tmp/queries.lua" <<'PY'
import sys, urllib.parse
qs = [l.strip() for l in open(sys.argv[1], encoding='utf-8') if l.strip()]
with open(sys.argv[2], 'w') as f:
    f.write('queries = {\n' + ''.join('  "%s",\n' % urllib.parse.quote(q) for q in qs) + '}\n')
    f.write('math.randomseed(42)\nrequest = function()\n  local q = queries[math.random(#queries)]\n'
            '  return wrk.format("GET", "/api/v1/search?lang=fr&q=" .. q)\nend\n')
PY
cpu() { awk '{print $14 + $15}' "/proc/$kbpid/stat"; } # utime + stime, clock ticks
hz=$(getconf CLK_TCK)
c0=$(cpu)
wrk -t2 -c32 -d"${secs}s" --latency -s "$tmp/queries.lua" "$url" > "$tmp/wrk.txt" &
wrkpid=$!
sleep $(( secs / 2 - 5 ))
perf record --call-graph dwarf,16384 -F 499 -o "$tmp/perf.data" -p "$kbpid" -- sleep 10 >/dev/null 2>&1
wait $wrkpid
c1=$(cpu)
reqs=$(awk '/requests in/ {print $1}' "$tmp/wrk.txt")
us=$(/usr/bin/python3 -c "print(f'{($c1 - $c0) / $hz / $reqs * 1e6:.1f}')")
echo "corpus: $n articles, $set words; wrk -t2 -c32 -d${secs}s: $(awk '/Requests\/sec/ {print $2}' "$tmp/wrk.txt") req/s, p99 $(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt"); kb CPU per request: $us us"
perf script -i "$tmp/perf.data" -F comm,tid,ip,sym 2>/dev/null > "$tmp/script.txt"
/usr/bin/python3 "$here/stages.py" "$us" < "$tmp/script.txt"
