#!/usr/bin/env bash
# Where kb's chat spends its CPU under load.mjs: kb serve on a fresh database of the shipped
# content, N conversations, RATE messages/s for SECONDS (at least 40); into the load phase:
#   from 5 to 15 s, perf stat: the server's system calls (per second and per message)
#   from 20 to 30 s, perf record -g: its samples by thread, the busiest thread's symbols, and
#   all threads' symbols with their callees
# usage: tests/bench/chat/profile.sh [CONVERSATIONS (10000)] [RATE (200)] [SECONDS (45)] [BUILD_DIR]
# env: KEEP=DIR keeps the perf data and the reports.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
n=${1:-10000}
rate=${2:-200}
secs=${3:-45}
[ "$secs" -ge 40 ] || secs=40
build=${4:-build-bench}
kb=$root/$build/kb/cli/kb
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)"; exit 1; }
ulimit -n "$(ulimit -Hn)"
[ -d "$here/node_modules/ws" ] || (cd "$here" && npm ci --no-audit --no-fund >/dev/null) || exit 1
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null || exit 1
ninja -C "$build" kb/cli/kb >/dev/null || exit 1
tmp=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; [ -n "${KEEP:-}" ] && cp -r "$tmp" "$KEEP"; rm -rf "$tmp"' EXIT
conv_rate=$(( (4 * rate + n - 1) / n )); [ "$conv_rate" -lt 5 ] && conv_rate=5
"$kb" --db "$tmp/kb.db" import content >/dev/null 2>&1
"$kb" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads 2 --chat-workers 2 \
  --chat-conn-max 20000 --chat-new-max 1000000 --chat-rate "$conv_rate" > "$tmp/serve.out" 2>&1 &
server=$!
for _ in $(seq 100); do grep -q 'chat on' "$tmp/serve.out" && break; sleep 0.1; done
url=$(grep -o 'ws://[^ ]*' "$tmp/serve.out")
node "$here/load.mjs" --url "$url" --conversations "$n" --rate "$rate" --seconds "$secs" \
  --pid "$server" --label "profile" > "$tmp/load.txt" 2>&1 &
loadpid=$!
for _ in $(seq 3000); do grep -q 'ramp done' "$tmp/load.txt" && break; sleep 0.1; done
sleep 5
echo "# kb serve with $n conversations, $rate messages/s: its system calls"
perf stat -x, -e 'syscalls:sys_enter_poll,syscalls:sys_enter_write,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_read,syscalls:sys_enter_pread64,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fdatasync' \
  -p "$server" -- sleep 10 2> "$tmp/stat.csv"
# per second of counting (field 4: the time the counter ran, ns)
awk -F, -v r="$rate" '$1 ~ /^[0-9]+$/ { sub("syscalls:sys_enter_", "", $3); s = $4 / 1e9;
  printf "  %-10s %8d/s  %6.2f per message (counted %.1f s)\n", $3, $1 / s, $1 / s / r, s }' "$tmp/stat.csv"
echo "  open file descriptors: $(ls /proc/$server/fd | wc -l)"
sleep 5
perf record -g -o "$tmp/perf.data" -p "$server" -- sleep 10 >/dev/null 2>&1
echo "# profile (10 s): the server's samples by thread"
perf report -i "$tmp/perf.data" --no-children --sort pid --stdio 2>/dev/null | grep -E '^ +[0-9]+\.' | head -6
top=$(perf report -i "$tmp/perf.data" --no-children --sort pid --stdio 2>/dev/null | grep -E '^ +[0-9]+\.' | head -1 | grep -o '[0-9]*:' | tr -d :)
echo "# the busiest thread ($top): self time by symbol (top 15)"
perf report -i "$tmp/perf.data" --no-children --tid "$top" --sort dso,sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -15
echo "# all threads, by symbol with callees (top 20)"
perf report -i "$tmp/perf.data" --children --sort sym --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | grep -v '\] 0x0000' | head -20
wait "$loadpid"
grep -E '^(messages|latency send -> reply|server|machine|server threads)' "$tmp/load.txt"
