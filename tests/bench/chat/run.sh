#!/usr/bin/env bash
# Chat benchmark: load.mjs (websocket, N conversations, RATE messages/s for SECONDS) against
#   1. kb serve on a fresh database of the shipped content (kb import content);
#   2. the same, while `kb import` adds 5,000 service-public articles (and the shipped rules,
#      unchanged) to the database it serves: latency during the import window reported apart;
#   3. the reference: reference.mjs (ws + rivescript-js on the same rules, no persistence, no
#      search), same load, same session; kb / reference side by side;
#   4. with LONG=1: a LONG_SECS (1800) run at LONG_RATE (200) messages/s on a fresh kb, RSS
#      every minute and the RSS slope of the last 20 minutes.
# usage: tests/bench/chat/run.sh [CONVERSATIONS (10000)] [RATE (1000)] [SECONDS (60)] [BUILD_DIR]
# env: LONG=1, LONG_RATE, LONG_SECS; WAIT_QUIET=SECONDS (see wait_quiet); KEEP=DIR (keep the
#      reports); ONLY="kb import reference" (the runs to do; with LONG=1
#      and ONLY=none, the long run alone); WORKERS (--chat-workers, 2); RAMP (500/s).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
n=${1:-10000}
rate=${2:-1000}
secs=${3:-60}
build=${4:-build-bench}
workers=${WORKERS:-2}
ramp=${RAMP:-500}
only=${ONLY:-kb import reference}
long=${LONG:-0}
long_rate=${LONG_RATE:-200}
long_secs=${LONG_SECS:-1800}
kb=$root/$build/kb/cli/kb

# 10,000 connections on each side: the generator's own limit up to the hard one (kb raises its
# own). Both ends of every connection are on this machine.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((n + 100)) ] || echo "warning: file descriptor limit $(ulimit -n) < $n connections" >&2
[ -d "$here/node_modules/ws" ] && [ -d "$here/node_modules/rivescript" ] ||
  (cd "$here" && npm ci --no-audit --no-fund >/dev/null) || exit 1
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null || exit 1
ninja -C "$build" kb/cli/kb >/dev/null || exit 1

tmp=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
status=0

# A new conversation is allowed 4 times the mean rate a conversation gets (at least kb's default
# 5/s): the per-conversation limiter must not answer rate_limited to a load spread evenly.
conv_rate=$(( (4 * rate + n - 1) / n )); [ "$conv_rate" -lt 5 ] && conv_rate=5

# WAIT_QUIET=SECONDS: before each run, wait (at most that long) until the other processes of
# this shared VM have used less than 0.3 of a core for 20 s (their share is reported anyway).
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
wait_quiet() {
  [ -n "${WAIT_QUIET:-}" ] || return 0
  local t0=$SECONDS a b
  while :; do
    a=$(busy_ticks); sleep 20; b=$(busy_ticks)
    local cores; cores=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", (b - a) / 100 / 20}')
    if awk -v c="$cores" 'BEGIN {exit !(c < 0.3)}' || [ $((SECONDS - t0)) -ge "$WAIT_QUIET" ]; then
      echo "(waited $((SECONDS - t0)) s for a quiet machine: other processes last used $cores cores)"
      return 0
    fi
  done
}

start_kb() { # start_kb NAME: a fresh database of the shipped content, kb serve on it
  rm -rf "$tmp/$1"; mkdir -p "$tmp/$1"
  "$kb" --db "$tmp/$1/kb.db" import content >/dev/null 2>&1 || { echo "kb import content failed"; exit 1; }
  "$kb" --db "$tmp/$1/kb.db" serve --port 0 --chat-port 0 --threads 2 --chat-workers "$workers" \
    --chat-conn-max 20000 --chat-new-max 1000000 --chat-rate "$conv_rate" --chat-burst 20 \
    > "$tmp/$1/serve.out" 2> "$tmp/$1/serve.err" &
  server=$!
  wait_url "$tmp/$1/serve.out"
}
wait_url() {
  for _ in $(seq 100); do grep -q 'chat on' "$1" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'ws://[^ ]*' "$1")
  [ -n "$url" ] || { echo "no chat address in $1"; cat "$1" "${1%.out}.err" 2>/dev/null; exit 1; }
}
stop_server() {
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; server=
}
load() { # load NAME RATE SECONDS [extra load.mjs options]
  local name=$1 r=$2 s=$3; shift 3
  node "$here/load.mjs" --url "$url" --conversations "$n" --rate "$r" --seconds "$s" --ramp "$ramp" \
    --pid "$server" --label "$name" --json "$tmp/$name.json" "$@" | tee "$tmp/$name.txt"
  local rc=${PIPESTATUS[0]}
  [ "$rc" -eq 0 ] || { echo "($name: the generator reports lost messages, exit $rc)"; status=1; }
}
server_errors() { # what the server logged at warning level or above, counted
  grep -v '"level":"info"' "$1" | grep -v 'no --crm-url' | sed 's/"ts":"[^"]*",//' | sort | uniq -c | sort -rn | head -5
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $build ($(git log -1 --format=%h)):" \
  "$n conversations, $rate messages/s, $secs s; kb --chat-workers $workers --chat-rate $conv_rate"

if [[ " $only " == *" kb "* ]]; then
  echo; echo "=== 1. kb serve, shipped content ==="
  wait_quiet
  start_kb kb
  load kb "$rate" "$secs"
  server_errors "$tmp/kb/serve.err"
  stop_server
fi

if [[ " $only " == *" import "* ]]; then
  echo; echo "=== 2. kb serve while kb import adds 5,000 articles to its database ==="
  /usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr \
    "$tmp/corpus/articles" 5000 10 >/dev/null
  cp -r content/bot "$tmp/corpus/bot" # the same rules: the import keeps them (unchanged)
  wait_quiet
  # The same import alone first (no server, a scratch database of the shipped content).
  mkdir -p "$tmp/alone"
  "$kb" --db "$tmp/alone/kb.db" import content >/dev/null 2>&1
  /usr/bin/time -o "$tmp/alone.time" -f '%e %U %S' "$kb" --db "$tmp/alone/kb.db" import "$tmp/corpus" >/dev/null 2>&1
  read -r ae au as < "$tmp/alone.time"
  echo "kb import of the 5,000 articles alone (no server): $ae s, CPU user $au s + system $as s"
  rm -rf "$tmp/alone"
  start_kb import
  : > "$tmp/window"
  load kb+import "$rate" "$secs" --window "$tmp/window" &
  loadpid=$!
  # The import starts 10 s into the load phase.
  for _ in $(seq 3000); do grep -q 'ramp done' "$tmp/kb+import.txt" 2>/dev/null && break; sleep 0.1; done
  sleep 10
  echo "start $(date +%s%3N)" >> "$tmp/window"
  t0=$(date +%s.%N)
  /usr/bin/time -o "$tmp/import.time" -f '%U %S' "$kb" --db "$tmp/import/kb.db" import "$tmp/corpus" > "$tmp/import.out" 2>&1
  irc=$?
  t1=$(date +%s.%N)
  echo "end $(date +%s%3N)" >> "$tmp/window"
  wait "$loadpid" || status=1
  read -r iu is < "$tmp/import.time"
  python3 -c "print(f'kb import of 5,000 articles beside the chat: {$t1 - $t0:.1f} s (exit $irc), CPU user $iu s + system $is s (counted in the generator\'s \"other processes\")')"
  grep -v ': warning: ' "$tmp/import.out" | sed 's/^/  /'
  echo "  ($(grep -c ': warning: ' "$tmp/import.out") warnings: the service-public files' 'source' key)"
  server_errors "$tmp/import/serve.err"
  stop_server
fi

if [[ " $only " == *" reference "* ]]; then
  echo; echo "=== 3. reference: reference.mjs (ws + rivescript-js, same rules, no storage, no search) ==="
  wait_quiet
  node "$here/reference.mjs" content/bot/fr 0 > "$tmp/ref.out" 2> "$tmp/ref.err" &
  server=$!
  wait_url "$tmp/ref.out"
  load reference "$rate" "$secs"
  stop_server
fi

if [ -f "$tmp/kb.json" ] && [ -f "$tmp/reference.json" ]; then
  echo; echo "=== kb / reference (same load, same session) ==="
  node -e '
    const [k, r] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
    const f = (v) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : "-");
    const row = (name, a, b, unit, ratio = true) => console.log(`${name.padEnd(28)} kb ${f(a).padStart(9)}  reference ${f(b).padStart(9)} ${unit.padEnd(10)}` +
      (ratio ? ` kb/reference ${(a / b).toFixed(2)}` : ""));
    for (const p of ["p50", "p90", "p99", "p999", "max"]) row(`latency ${p}`, k.latency[p], r.latency[p], "ms");
    row("throughput", k.throughput, r.throughput, "replies/s");
    row("lost", k.lost, r.lost, "messages", false);
    row("server CPU per message", k.server?.cpuPerMsgMs, r.server?.cpuPerMsgMs, "ms");
    row("server RSS per conversation", k.server?.perConvB / 1024, r.server?.perConvB / 1024, "KB");
    row("generator CPU", k.generatorCpuPct, r.generatorCpuPct, "% core", false);
  ' "$tmp/kb.json" "$tmp/reference.json"
fi

if [ "$long" = 1 ]; then
  echo; echo "=== 4. long run: $n conversations, $long_rate messages/s for $long_secs s ==="
  wait_quiet
  start_kb long
  load long "$long_rate" "$long_secs" --sample-secs 60 --slope-minutes 20
  server_errors "$tmp/long/serve.err"
  stop_server
fi
[ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$tmp"/*.json "$tmp"/*.txt "$KEEP"/ 2>/dev/null
exit $status
