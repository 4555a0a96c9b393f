#!/usr/bin/env bash
# Page and API latency while a large import runs beside the server: kb serve on the shipped
# content, readers at a steady rate in open loop (load.mjs: an article page, the search API
# with a random 2-4 word query, the home page, in turn), BEFORE seconds without an import
# (the baseline, same run), then `kb import` of N service-public articles (scale/make-corpus.py)
# into the database being served, then AFTER seconds more. Prints the import's duration and
# each phase's latency percentiles per kind of request. Target: p99 under 50 ms during the
# import.
# usage: tests/bench/import-latency/run.sh [N (50000)] [RATE requests/s (150)] [BUILD_DIR]
# env: BEFORE (20 s), AFTER (10 s), THREADS (kb serve --threads, 2), KEEP=DIR (the server's
#      log, the import's output, the load report)
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

/usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr "$tmp/corpus" "$n" 5000 >/dev/null
"$kb" --db "$tmp/kb.db" import content >/dev/null 2>&1
"$kb" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads "$threads" > "$tmp/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q listening "$tmp/serve.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' "$tmp/serve.log" | head -1)
# The public French articles of the shipped content: pages an anonymous reader may open.
slugs=$(grep -L 'audience: internal' $(grep -rl '^lang: fr' content/articles) |
  xargs grep -h '^slug:' | awk '{print $2}' | paste -sd, -)

echo "kb serve --threads $threads on the shipped content; $rate requests/s (article, search, home in turn); import of $n articles after ${before} s"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
node "$here/load.mjs" --base "$url" --rate "$rate" --queries "$tmp/queries.txt" --slugs "$slugs" > "$tmp/load.txt" 2>&1 &
load=$!
sleep "$before"
kill -USR1 "$load"
start=$(date +%s.%N)
/usr/bin/time -f '%e s elapsed, %U s user, %S s system, %M KB max RSS' \
  "$kb" --db "$tmp/kb.db" import "$tmp/corpus" > "$tmp/import.log" 2>&1
end=$(date +%s.%N)
kill -USR2 "$load"
sleep "$after"
kill -TERM "$load"
wait "$load" || true
load=
echo "import: $(grep -E 'files:' "$tmp/import.log" | tail -1); $(tail -1 "$tmp/import.log")"
/usr/bin/python3 -c "print(f'import: {$n} articles in {$end - $start:.1f} s = {$n / ($end - $start):.0f} articles/s beside the server')"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$tmp/load.txt"
grep -c '"level":"error"' "$tmp/serve.log" | sed 's/^/server errors logged: /'
