#!/usr/bin/env bash
# The agents' cases inbox with 100,000 cases: "opens and filters under 200 ms".
# Builds kb and gen-cases (release), imports the shipped content, adds the agent `bench`
# (kb user add), generates N cases through kb's store and crm API (gen-cases.c: each case with
# its history and its CRM events, 5% of them assigned to `bench`), serves the database
# (kb serve --threads 2, no CRM: the events wait), signs in as `bench` (POST /api/v1/session)
# and times each request ROUNDS times with curl (a new loopback connection each time, the
# whole answer read): the JSON API's list, filters by status, assignee=me, none, language,
# searches (q: a surname, an email domain, a reference, a subject word, two letters), a deep
# page, one case, and the console's HTML pages. Prints median, p95 and max per request, and
# exits 1 when a median is 200 ms or more. The database is removed at the end unless KEEP=1.
#
# usage: tests/bench/cases/run.sh [N cases, default 100000] [BUILD_DIR, default build-bench]
set -euo pipefail
cd "$(dirname "$0")/../../.."
n=${1:-100000}
build=${2:-build-bench}
rounds=${ROUNDS:-30}
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release >/dev/null
ninja -C "$build" kb/cli/kb tests/bench/gen-cases >/dev/null
kb="$build/kb/cli/kb"
tmp=$(mktemp -d)
kbpid=
cleanup() {
  [ -n "$kbpid" ] && kill "$kbpid" 2>/dev/null && wait "$kbpid" 2>/dev/null || true
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
db="$tmp/kb.db"
pw='bench password 1234'
"$kb" --db "$db" import content >/dev/null 2>&1
printf '%s\n' "$pw" | "$kb" --db "$db" user add bench --role agent --name Bench >/dev/null
t0=$(date +%s.%N)
"$build/tests/bench/gen-cases" --db "$db" --n "$n" --me bench
t1=$(date +%s.%N)
echo "generated $n cases in $(echo "$t1 - $t0" | bc) s; database $(du -sh "$db" | cut -f1)"
"$kb" --db "$db" serve --port 0 --chat-port 0 --threads 2 >"$tmp/kb.out" 2>"$tmp/kb.err" &
kbpid=$!
for _ in $(seq 300); do grep -q listening "$tmp/kb.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[0-9.:]*' "$tmp/kb.out" | tail -1)
curl -s -c "$tmp/cookies" -H 'content-type: application/json' \
  -d "{\"login\":\"bench\",\"password\":\"$pw\"}" "$base/api/v1/session" >/dev/null
ref=$(sqlite3 "$db" "SELECT ref FROM cases ORDER BY id LIMIT 1 OFFSET $((n / 2))")
num=${ref##*-}
echo "kb $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $n cases, $rounds rounds per request, $(nproc) CPUs"
printf '%-48s %8s %8s %8s %8s %7s\n' request 'median' 'p95' 'max' 'total' 'bytes'
slow=0
time_it() { # name path
  local name=$1 path=$2 times=() out total bytes
  curl -s -b "$tmp/cookies" "$base$path" >/dev/null # warm: the first request of a thread opens its connection
  for _ in $(seq "$rounds"); do
    out=$(curl -s -b "$tmp/cookies" -o "$tmp/body" -w '%{http_code} %{time_total}' "$base$path")
    [ "${out%% *}" = 200 ] || { echo "$name: HTTP ${out%% *}" >&2; exit 1; }
    times+=("${out#* }")
  done
  total=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("total", "-"))' "$tmp/body" 2>/dev/null || echo '-')
  bytes=$(wc -c <"$tmp/body")
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$name" -v total="$total" -v bytes="$bytes" '
    { t[NR] = $1 * 1000 }
    END { p95 = t[int(NR * 0.95 + 0.5)]; printf "%-48s %6.1f ms %6.1f ms %6.1f ms %8s %7d\n",
          name, t[int((NR + 1) / 2)], p95, t[NR], total, bytes
          if (t[int((NR + 1) / 2)] >= 200) exit 3 }' || slow=1
}
time_it 'list (newest 25)'                        '/api/v1/cases'
time_it 'list, 100 a page'                        '/api/v1/cases?limit=100'
time_it 'status=open'                             '/api/v1/cases?status=open'
time_it 'status=closed (70%)'                     '/api/v1/cases?status=closed'
time_it 'status=new (4%)'                         '/api/v1/cases?status=new'
time_it 'assignee=me'                             '/api/v1/cases?assignee=me'
time_it 'assignee=me&status=open'                 '/api/v1/cases?assignee=me&status=open'
time_it 'assignee=none'                           '/api/v1/cases?assignee=none'
time_it 'lang=en'                                 '/api/v1/cases?lang=en'
time_it 'q=dupont (a surname)'                    '/api/v1/cases?q=dupont'
time_it 'q=example.org (an email domain)'         '/api/v1/cases?q=example.org'
time_it "q=$num (a reference's number)"           "/api/v1/cases?q=$num"
time_it 'q=facture (a subject word)'              '/api/v1/cases?q=facture'
time_it 'q=du (2 letters: scan)'                  '/api/v1/cases?q=du'
time_it 'q=dupont&status=open&assignee=me'        '/api/v1/cases?q=dupont&status=open&assignee=me'
time_it 'offset=10000 (the deepest page)'         '/api/v1/cases?offset=10000'
time_it "GET /api/v1/cases/$ref"                  "/api/v1/cases/$ref"
time_it 'page /agent/cases'                       '/agent/cases?lang=fr'
time_it 'page /agent/cases?assignee=me&status=open' '/agent/cases?lang=fr&assignee=me&status=open'
time_it 'page /agent/cases?q=dupont'              '/agent/cases?lang=fr&q=dupont'
time_it "page /agent/cases/$ref"                  "/agent/cases/$ref?lang=fr"
kill "$kbpid"
wait "$kbpid" 2>/dev/null || true
kbpid=
exit "$slow"
