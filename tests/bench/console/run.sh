#!/usr/bin/env bash
# The agents' console at N articles (default 50,000: service-public replicated by
# tests/bench/scale/make-corpus.py, every fifth article made internal, so that agents search
# public and internal ones): (a) from a keystroke to results drawn, in chromium on the real
# /agent page (keystroke.mjs), alone and while (b) runs; (b) AGENTS agents (default 200)
# typing at once at RATE keystrokes a second each (default 3: 600 prefix searches a second),
# each with its own session (load.mjs), and the same load against nginx serving a static file
# of the average answer's size, in the same session, as the reference. Loopback only; both
# servers stop at the end. Targets: (a) p95 < 100 ms, (b) p99 < 30 ms.
# usage: tests/bench/console/run.sh [N] [BUILD_DIR]    env: AGENTS, RATE, SECS, QUERIES
set -euo pipefail
cd "$(dirname "$0")/../../.."
n=${1:-50000}
build=${2:-build-bench}
agents=${AGENTS:-200}
rate=${RATE:-3}
secs=${SECS:-60}
nq=${QUERIES:-50}
command -v nginx >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null
ninja -C "$build" kb/cli/kb >/dev/null
kb=$PWD/$build/kb/cli/kb
export KB_NODE_MODULES=$PWD/tests/integration/package.json
tmp=$(mktemp -d)
kbpid= ; ngpid= ; loadpid=
trap 'kill $kbpid $ngpid $loadpid 2>/dev/null || true; rm -rf "$tmp"' EXIT

/usr/bin/python3 tests/bench/scale/make-corpus.py ../shared/data/service-public-fr "$tmp/corpus" "$n" 2000 >/dev/null
/usr/bin/python3 - "$tmp/corpus" <<'PY'
import os, sys
k = 0
for root, _, files in os.walk(sys.argv[1]):
    for f in sorted(files):
        k += 1
        if k % 5:
            continue
        p = os.path.join(root, f)
        t = open(p, encoding='utf-8').read()
        open(p, 'w', encoding='utf-8').write(t.replace('\nlang: fr\n', '\nlang: fr\naudience: internal\n', 1))
PY
start=$(date +%s.%N)
"$kb" --db "$tmp/kb.db" import "$tmp/corpus" 2>/dev/null | tail -1
echo "import: $(python3 -c "print(f'{$(date +%s.%N) - $start:.0f}')") s; internal articles: $(sqlite3 "$tmp/kb.db" "SELECT count(*) FROM articles WHERE audience = 'internal'")"
# The agents: accounts (Argon2id hashes), then one session each through the API.
for i in $(seq 1 "$agents"); do
  echo 'bench password 12345' | "$kb" --db "$tmp/kb.db" user add "agent$i" --role agent >/dev/null
done
"$kb" --db "$tmp/kb.db" serve --port 0 --chat-port 0 --threads 2 > "$tmp/kb.out" 2>/dev/null &
kbpid=$!
for _ in $(seq 300); do grep -q listening "$tmp/kb.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$tmp/kb.out")
for i in $(seq 1 "$agents"); do
  curl -s -D - -o /dev/null -H 'content-type: application/json' \
    -d "{\"login\":\"agent$i\",\"password\":\"bench password 12345\"}" "$base/api/v1/session" |
    grep -io 'kb_session=[A-Za-z0-9_-]*'
done > "$tmp/cookies.txt"
echo "sessions: $(wc -l < "$tmp/cookies.txt")"
head -n "$nq" "$tmp/queries.txt" > "$tmp/typed.txt"

# The answer's average size, for nginx's file: prefixes of the typed queries.
size=$(head -n 20 "$tmp/queries.txt" | while read -r q; do
  for k in 3 6 9 12; do
    curl -s -b "$(head -n 1 "$tmp/cookies.txt")" -G --data-urlencode "q=${q:0:$k}" \
      --data-urlencode prefix=1 --data-urlencode limit=10 "$base/api/v1/search" | wc -c
  done
done | awk '{s+=$1} END {printf "%d", s/NR}')
head -c "$size" /dev/zero | tr '\0' 'x' | sed 's/^/{"x":"/; s/$/"}/' > "$tmp/static.json"
chmod 755 "$tmp"; chmod 644 "$tmp/static.json"
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
  keepalive_requests 100000;
  client_body_temp_path $tmp/nginx; proxy_temp_path $tmp/nginx; fastcgi_temp_path $tmp/nginx;
  uwsgi_temp_path $tmp/nginx; scgi_temp_path $tmp/nginx;
  server { listen 127.0.0.1:$ngport; root $tmp; location / { } }
}
NG
nginx -c "$tmp/nginx/nginx.conf" &
ngpid=$!
sleep 0.5
echo "corpus: $n articles; answer size: $size bytes; $agents agents x $rate keystrokes/s, ${secs} s"

cookie=$(head -n 1 "$tmp/cookies.txt")
echo -n "(a) keystroke to results drawn, idle server: "
node tests/bench/console/keystroke.mjs --base "$base" --cookie "$cookie" --queries "$tmp/typed.txt"
echo -n "(b) kb, $agents agents: "
node tests/bench/console/load.mjs --base "$base" --agents "$agents" --rate "$rate" \
  --seconds "$secs" --queries "$tmp/queries.txt" --cookies "$tmp/cookies.txt" | tee "$tmp/kb.json"
echo -n "(b) nginx reference, same load: "
node tests/bench/console/load.mjs --base "http://127.0.0.1:$ngport" --path /static.json \
  --agents "$agents" --rate "$rate" --seconds "$secs" --queries "$tmp/queries.txt" \
  --cookies "$tmp/cookies.txt" | tee "$tmp/nginx.json"
python3 -c "import json; k=json.load(open('$tmp/kb.json')); g=json.load(open('$tmp/nginx.json')); print(f'p99 kb / nginx = {k[\"p99_ms\"] / g[\"p99_ms\"]:.1f}x; kb p99 {k[\"p99_ms\"]} ms (target < 30)')"
# (a) again while the 200 agents type.
node tests/bench/console/load.mjs --base "$base" --agents "$agents" --rate "$rate" \
  --seconds $((secs * 3)) --queries "$tmp/queries.txt" --cookies "$tmp/cookies.txt" > "$tmp/kb2.json" &
loadpid=$!
sleep 6
echo -n "(a) keystroke to results drawn, during the load: "
node tests/bench/console/keystroke.mjs --base "$base" --cookie "$cookie" --queries "$tmp/typed.txt"
wait $loadpid || true
loadpid=
echo -n "(b) kb during (a): "
cat "$tmp/kb2.json"
echo "kb RSS after the runs: $(awk '/VmRSS/ {printf "%.1f MB", $2/1024}' /proc/$kbpid/status)"
