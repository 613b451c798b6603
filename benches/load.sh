#!/usr/bin/env bash
# Load script: detail GET and upload POST throughput of the release binary, with traces and
# metrics exported over OTLP ("on"; metrics pushed every second) and without ("off"),
# interleaved round by round on one machine. The instruments themselves are always on (they
# are what /metrics serves).
#
#   benches/load.sh                      # SQLite, 10 rounds of 8 s per case
#   LOAD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/ms_load benches/load.sh
#
# The data directory (blobs, SQLite) is on tmpfs: a shared disk's fsync times vary by more
# than the difference measured, and without them the server is CPU-bound, where tracing's
# cost shows most. Each round runs "off" and "on" back to back; the verdict is the median of
# the rounds' on/off ratios, which a slow drift of the machine moves least.
#
# Knobs: LOAD_ROUNDS (10), LOAD_SECONDS (8), LOAD_CONNECTIONS (16), LOAD_TMPDIR (/dev/shm if present),
# OHA (/tmp/oha/bin/oha, installed with cargo if missing), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${LOAD_ROUNDS:-10}
seconds=${LOAD_SECONDS:-8}
connections=${LOAD_CONNECTIONS:-16}
oha=${OHA:-/tmp/oha/bin/oha}
target=${CARGO_TARGET_DIR:-target}
if [ ! -x "$oha" ]; then
  echo "installing oha into /tmp/oha" >&2
  cargo install oha --root /tmp/oha --locked >&2
  oha=/tmp/oha/bin/oha
fi
cargo build --release --quiet
binary="$target/release/mediastore"
# tmpfs where the system has one at the usual place; elsewhere the temporary directory.
default_tmp=/dev/shm
[ -d "$default_tmp" ] || default_tmp=${TMPDIR:-/tmp}
work=$(mktemp -d -p "${LOAD_TMPDIR:-$default_tmp}")
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

# An OTLP/HTTP sink that accepts and drops every export, as a collector would.
cat >"$work/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
python3 "$work/sink.py" 4318 &
head -c 65536 /dev/zero | tr '\0' 'a' >"$work/upload.txt"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# rate MODE KIND: requests/s of one oha run against a fresh server.
run() {
  local mode=$1 kind=$2 port data log token url
  port=$(free_port)
  data="$work/data-$mode-$kind-$RANDOM"
  log="$work/server.log"
  # mediastore::app=info: the line that says the startup blob sweep is done.
  local env=(MEDIASTORE_BIND="127.0.0.1:$port" MEDIASTORE_DATA_DIR="$data" RUST_LOG=warn,mediastore::app=info)
  if [ -n "${LOAD_DATABASE_URL:-}" ]; then
    psql "${LOAD_DATABASE_URL%/*}/postgres" -qc "DROP DATABASE IF EXISTS ms_load" -c "CREATE DATABASE ms_load" >/dev/null
    env+=(DATABASE_URL="${LOAD_DATABASE_URL%/*}/ms_load")
  fi
  if [ "$mode" = on ]; then
    env+=(OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_METRIC_EXPORT_INTERVAL=1000)
  fi
  env "${env[@]}" "$binary" serve >"$work/stdout" 2>"$log" &
  local pid=$!
  for _ in $(seq 1 100); do
    grep -q '^admin token: ' "$work/stdout" 2>/dev/null && curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
    sleep 0.1
  done
  # The sweep lists all 65,536 blob shard directories: measured alongside, it would weigh on
  # whichever mode it overlapped.
  for _ in $(seq 1 300); do
    grep -q 'blob sweep' "$log" && break
    sleep 0.1
  done
  token=$(sed -n 's/^admin token: //p' "$work/stdout")
  url="http://127.0.0.1:$port/api/media/files"
  local id
  id=$(curl -sf -H "Authorization: Token $token" -F "f=@$work/upload.txt" "$url" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  local args=(--no-tui --output-format json -z "${seconds}s" -c "$connections" -H "Authorization: Token $token")
  local cpu_before
  cpu_before=$(cpu_ticks "$pid")
  if [ "$kind" = detail ]; then
    "$oha" "${args[@]}" "$url/$id" >"$work/oha.json"
  else
    "$oha" "${args[@]}" -F "f=@$work/upload.txt" "$url" >"$work/oha.json"
  fi
  local cpu_ticks_used=$(($(cpu_ticks "$pid") - cpu_before))
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
requests = s["requestsPerSec"] * s["total"]
cpu_us = int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / max(requests, 1)
print("%.0f %.0f %.0f" % (s["requestsPerSec"], 100 * s["successRate"], cpu_us))' "$work/oha.json" "$cpu_ticks_used" "$(getconf CLK_TCK)"
}

# cpu_ticks PID: the CPU time the process has used so far (user + system, in clock ticks).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

declare -A rates ratios cpus cpu_ratios
echo "| round | case | export | requests/s | success % | server CPU µs / request |"
echo "|--:|:--|:--|--:|--:|--:|"
for round in $(seq 1 "$rounds"); do
  # Odd rounds run "off" first, even rounds "on" first: a drift of the machine during the run
  # then weighs on both alike.
  modes=(off on)
  [ $((round % 2)) -eq 0 ] && modes=(on off)
  for kind in detail upload; do
    declare -A pair=() cpu_pair=()
    for mode in "${modes[@]}"; do
      read -r rate ok cpu < <(run "$mode" "$kind")
      echo "| $round | $kind | $mode | $rate | $ok | $cpu |"
      rates[$kind-$mode]+="$rate "
      cpus[$kind-$mode]+="$cpu "
      pair[$mode]=$rate
      cpu_pair[$mode]=$cpu
    done
    ratios[$kind]+="$(python3 -c "print('%.3f' % (${pair[on]} / max(${pair[off]}, 1)))") "
    cpu_ratios[$kind]+="$(python3 -c "print('%.3f' % (${cpu_pair[on]} / max(${cpu_pair[off]}, 1)))") "
  done
done
echo
# Throughput is the goal; the server's CPU time per request is the steadier view of the same
# cost (another process taking a core slows requests, not the work each one does).
echo "| case | off (median req/s) | on (median req/s) | on / off (median of rounds) | rounds' on / off | CPU µs / request off, on | CPU on / off (median of rounds) |"
echo "|:--|--:|--:|--:|:--|--:|--:|"
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for kind in detail upload; do
  off=$(median <<<"${rates[$kind-off]}")
  on=$(median <<<"${rates[$kind-on]}")
  cpu_off=$(median <<<"${cpus[$kind-off]}")
  cpu_on=$(median <<<"${cpus[$kind-on]}")
  echo "| $kind | $off | $on | $(median <<<"${ratios[$kind]}") | ${ratios[$kind]}| $cpu_off, $cpu_on | $(median <<<"${cpu_ratios[$kind]}") |"
done
