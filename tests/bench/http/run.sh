#!/usr/bin/env bash
# HTTP benchmark: wrk against kb's /api/v1/search, and in the same run against nginx serving a
# static JSON file of kb's average response size, alternated. Two sets of queries, one query
# per request, drawn at random from 5,000:
#   rare    2-4 words drawn from the corpus vocabulary (most words are rare: few matches)
#   common  2-4 words drawn from the 400 commonest words of the titles (what customers type:
#           many matches for every word)
# Each set has its own nginx file, of the average size of kb's answers to that set. Rounds
# alternate kb and nginx set by set: kb rare, nginx rare, kb common, nginx common, then again.
# With VS=/path/to/another/kb (another build: the parent commit's, say), that kb serves the
# same database beside it and runs after kb in each round: kb / VS is then a before/after
# ratio taken in the same minute, and so is the ratio of their CPU time a request (which
# other processes disturb less than requests/s). Each wrk run also prints the CPU the other
# processes of the machine used meanwhile ("others", in cores: the machine is shared, its
# figures noisy).
# Loopback only; the servers stop at the end.
# usage: tests/bench/http/run.sh [N articles, default 535 = service-public as is] [BUILD_DIR]
# env: SECS (per wrk run, 10), ROUNDS (2), CONNS (32), SETS ("rare common"), THREADS (kb's
#      --threads, 2), KB (the kb binary, default BUILD_DIR's), VS (see above)
set -euo pipefail
cd "$(dirname "$0")/../../.."
n=${1:-535}
build=${2:-build-bench}
conns=${CONNS:-32}
secs=${SECS:-10}
rounds=${ROUNDS:-2}
sets=${SETS:-rare common}
threads=${THREADS:-2}
command -v wrk >/dev/null && command -v nginx >/dev/null ||
  { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light >/dev/null; }
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null
ninja -C "$build" kb/cli/kb >/dev/null
kb=${KB:-$build/kb/cli/kb}
tmp=$(mktemp -d)
kbpid= ; ngpid= ; vspid=
trap 'kill $kbpid $vspid $ngpid 2>/dev/null || true; rm -rf "$tmp"' EXIT
/usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr "$tmp/corpus" "$n" 5000 >/dev/null
mv "$tmp/queries.txt" "$tmp/queries-rare.txt"
"$kb" --db "$tmp/kb.db" import "$tmp/corpus" >/dev/null 2>&1
"$kb" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads "$threads" > "$tmp/kb.out" 2>/dev/null &
kbpid=$!
for _ in $(seq 100); do grep -q listening "$tmp/kb.out" 2>/dev/null && break; sleep 0.1; done
kb_url=$(grep -o 'http://[0-9.:]*' "$tmp/kb.out" | head -1)
if [ -n "${VS:-}" ]; then
  "$VS" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads "$threads" > "$tmp/vs.out" 2>/dev/null &
  vspid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/vs.out" 2>/dev/null && break; sleep 0.1; done
  vs_url=$(grep -o 'http://[0-9.:]*' "$tmp/vs.out" | head -1)
fi

for set in $sets; do
  # The queries, percent-encoded, as a Lua table wrk picks from at random per request.
  /usr/bin/python3 - "$tmp/queries-$set.txt" "$tmp/queries-$set.lua" <<'PY'
import sys, urllib.parse
qs = [l.strip() for l in open(sys.argv[1], encoding='utf-8') if l.strip()]
with open(sys.argv[2], 'w') as f:
    f.write('queries = {\n')
    for q in qs:
        f.write('  "%s",\n' % urllib.parse.quote(q))
    f.write('}\n')
    f.write('math.randomseed(42)\n')
    f.write('request = function()\n  local q = queries[math.random(#queries)]\n'
            '  return wrk.format("GET", "/api/v1/search?lang=fr&q=" .. q)\nend\n')
PY
  # Average response size over the first 200 queries, for nginx's file.
  size=$(head -n 200 "$tmp/queries-$set.txt" | while read -r q; do
    curl -s -G --data-urlencode "q=$q" --data-urlencode "lang=fr" "$kb_url/api/v1/search" | wc -c
  done | awk '{s+=$1} END {printf "%d", s/NR}')
  head -c "$size" /dev/zero | tr '\0' 'x' | sed 's/^/{"x":"/; s/$/"}/' > "$tmp/static-$set.json"
  echo "$size" > "$tmp/size-$set"
done

# nginx workers run as an unprivileged user: let them read the files.
chmod 755 "$tmp"
chmod 644 "$tmp"/static-*.json
mkdir -p "$tmp/nginx"
ngport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$tmp/nginx/nginx.conf" <<NG
worker_processes 2;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  types { application/json json; }
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$ngport; root $tmp; location / { } }
}
NG
nginx -c "$tmp/nginx/nginx.conf" &
ngpid=$!
sleep 0.5

echo "corpus: $n articles; kb --threads $threads; wrk -t2 -c$conns -d${secs}s --latency; $rounds rounds${VS:+; VS=$VS}"
hz=$(getconf CLK_TCK)
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
pcpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
run() { # run NAME URL PID [SCRIPT]: print req/s, p99, the server's and the others' CPU
  local out rps p99 b0 b1 s0 s1 pids
  pids="$3 $( (pgrep -P "$3" || true) | tr '\n' ' ')" # nginx: its workers
  b0=$(busy); s0=$(pcpu $pids)
  out=$(/usr/bin/time -f '%U %S' -o "$tmp/wrk.time" wrk -t2 -c"$conns" -d"${secs}s" --latency ${4:+-s "$4"} "$2")
  b1=$(busy); s1=$(pcpu $pids)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  local cpu reqs
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu=$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v hz="$hz" -v secs="$secs" -v n="$reqs" '
    NR == 1 {w = ($1 + $2) * hz; o = b - s - w; if (o < 0) o = 0
             printf "server %.2f cores (%.0f us a request), wrk %.2f, others %.2f",
                    s / hz / secs, s / hz / n * 1e6, w / hz / secs, o / hz / secs}' "$tmp/wrk.time")
  echo "  $1: $rps req/s, p99 $p99; $cpu $(echo "$out" | grep -E 'Non-2xx|Socket errors' | tr '\n' ' ' || true)"
  echo "$rps" > "$tmp/$1.rps"
  echo "$s1 $s0 $reqs" | awk -v hz="$hz" '{print ($1 - $2) / hz / $3 * 1e6}' > "$tmp/$1.us"
}
ratio() { /usr/bin/python3 -c "a=float(open('$tmp/$1.rps').read()); b=float(open('$tmp/$2.rps').read()); print(f'  $1 / $2 = {a/b*100:.1f}%${3:-}')"; }
for r in $(seq "$rounds"); do
  for set in $sets; do
    echo "round $r, $set words (response $(cat "$tmp/size-$set") bytes):"
    run "kb-$set" "$kb_url" "$kbpid" "$tmp/queries-$set.lua"
    [ -n "${VS:-}" ] && run "vs-$set" "$vs_url" "$vspid" "$tmp/queries-$set.lua"
    run "nginx-$set" "http://127.0.0.1:$ngport/static-$set.json" "$ngpid"
    ratio "kb-$set" "nginx-$set" " ($set words; target 20% common, 15% rare)"
    if [ -n "${VS:-}" ]; then
      ratio "vs-$set" "nginx-$set"
      ratio "kb-$set" "vs-$set"
      /usr/bin/python3 -c "a=float(open('$tmp/kb-$set.us').read()); b=float(open('$tmp/vs-$set.us').read()); print(f'  kb CPU a request / vs = {a/b:.2f}')"
    fi
  done
done
echo "kb RSS after the runs: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$kbpid/status)"
