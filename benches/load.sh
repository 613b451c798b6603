#!/usr/bin/env bash
# Load script: detail GET and upload POST throughput of the release binary, with traces and
# metrics exported over OTLP ("on"; metrics pushed every second) and without ("off").
# The instruments themselves are always on (they are what /metrics serves).
#
#   benches/load.sh                      # SQLite, 20 rounds of 4 s per case and mode
#   LOAD_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres benches/load.sh
#
# Two servers run side by side for the whole script, one per mode, each started once and
# measured only after its startup blob sweep. A round measures one, then the other (odd
# rounds "off" first, even rounds "on" first), a few seconds each: a machine that drifts (a
# shared one does, by more than the difference measured) moves both halves of a pair alike.
# The verdict is the median of the rounds' on/off ratios.
#
# The data directories (blobs, SQLite) are on tmpfs: a shared disk's fsync times vary by more
# than the difference measured, and without them the server is CPU-bound, where tracing's
# cost shows most. With LOAD_PIN=1 (the default where there are two CPUs or more) the servers
# run on the last CPU and oha and the OTLP sink on the others: throughput is then what one core
# of the server does, and neither the load generator nor the stand-in collector takes from it.
#
# Knobs: LOAD_ROUNDS (20), LOAD_SECONDS (4), LOAD_CONNECTIONS (16), LOAD_TMPDIR (/dev/shm if
# present), LOAD_PIN, LOAD_DATABASE_URL (a PostgreSQL maintenance database: the servers use
# ms_load_off and ms_load_on beside it, dropped and made anew), OHA (/tmp/oha/bin/oha,
# installed with cargo if missing), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${LOAD_ROUNDS:-20}
seconds=${LOAD_SECONDS:-4}
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

cpus=$(nproc)
server_on=() client_on=()
if [ "${LOAD_PIN:-$((cpus >= 2))}" = 1 ]; then
  server_on=(taskset -c "$((cpus - 1))")
  client_on=(taskset -c "0-$((cpus - 2))")
  echo "servers on CPU $((cpus - 1)); oha and the sink on CPUs 0-$((cpus - 2))" >&2
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { # wait_for WHAT COMMAND...: up to 30 s for COMMAND to succeed.
  local what=$1
  shift
  for _ in $(seq 1 300); do
    "$@" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "load.sh: $what did not happen within 30 s" >&2
  exit 1
}

# An OTLP/HTTP sink that accepts and drops every export, as a collector would.
cat >"$work/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
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
sink_port=$(free_port)
"${client_on[@]}" python3 "$work/sink.py" "$sink_port" &
wait_for "the OTLP sink's start" python3 -c "import socket; socket.create_connection(('127.0.0.1', $sink_port))"

head -c 65536 /dev/zero | tr '\0' 'a' >"$work/upload.txt"

# start MODE: a server for the mode; sets pid[MODE], token[MODE], url[MODE], file[MODE].
declare -A pid token url file
start() {
  local mode=$1 port
  port=$(free_port)
  local dir="$work/$mode"
  mkdir -p "$dir"
  # mediastore::app=info: the line that says the startup blob sweep is done.
  local env=(MEDIASTORE_BIND="127.0.0.1:$port" MEDIASTORE_DATA_DIR="$dir/data" RUST_LOG=warn,mediastore::app=info)
  if [ -n "${LOAD_DATABASE_URL:-}" ]; then
    psql "$LOAD_DATABASE_URL" -qc "DROP DATABASE IF EXISTS ms_load_$mode" -c "CREATE DATABASE ms_load_$mode" >/dev/null
    env+=(DATABASE_URL="${LOAD_DATABASE_URL%/*}/ms_load_$mode")
  fi
  if [ "$mode" = on ]; then
    env+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sink_port" OTEL_METRIC_EXPORT_INTERVAL=1000)
  fi
  "${server_on[@]}" env "${env[@]}" "$binary" serve >"$dir/stdout" 2>"$dir/log" &
  pid[$mode]=$!
  wait_for "the $mode server's start" grep -q '^admin token: ' "$dir/stdout"
  # The sweep lists all 65,536 blob shard directories: measured alongside, it would weigh on
  # whichever mode it overlapped.
  wait_for "the $mode server's blob sweep" grep -q 'blob sweep' "$dir/log"
  token[$mode]=$(sed -n 's/^admin token: //p' "$dir/stdout")
  url[$mode]="http://127.0.0.1:$port/api/media/files"
  file[$mode]=$(curl -sf -H "Authorization: Token ${token[$mode]}" -F "f=@$work/upload.txt" "${url[$mode]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
}

# cpu_ticks PID: the CPU time the process has used so far (user + system, in clock ticks).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure MODE KIND: "requests/s success% server-CPU-µs-per-request" of one oha run.
measure() {
  local mode=$1 kind=$2 before used
  local args=(--no-tui --output-format json -z "${seconds}s" -c "$connections" -H "Authorization: Token ${token[$mode]}")
  before=$(cpu_ticks "${pid[$mode]}")
  if [ "$kind" = detail ]; then
    "${client_on[@]}" "$oha" "${args[@]}" "${url[$mode]}/${file[$mode]}" >"$work/oha.json"
  else
    "${client_on[@]}" "$oha" "${args[@]}" -F "f=@$work/upload.txt" "${url[$mode]}" >"$work/oha.json"
  fi
  used=$(($(cpu_ticks "${pid[$mode]}") - before))
  python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))["summary"]
requests = s["requestsPerSec"] * s["total"]
cpu_us = int(sys.argv[2]) * 1e6 / int(sys.argv[3]) / max(requests, 1)
print("%.0f %.0f %.0f" % (s["requestsPerSec"], 100 * s["successRate"], cpu_us))' "$work/oha.json" "$used" "$(getconf CLK_TCK)"
}

start off
start on

declare -A rates ratios cpus cpu_ratios
echo "| round | case | export | requests/s | success % | server CPU µs / request |"
echo "|--:|:--|:--|--:|--:|--:|"
# Every detail round first, then every upload round: uploads grow the servers' data alike.
for kind in detail upload; do
  for round in $(seq 1 "$rounds"); do
    modes=(off on)
    [ $((round % 2)) -eq 0 ] && modes=(on off)
    declare -A pair=() cpu_pair=()
    for mode in "${modes[@]}"; do
      read -r rate ok cpu < <(measure "$mode" "$kind")
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
echo "| case | off (median req/s) | on (median req/s) | on / off (median of rounds) | middle half of the rounds' on / off | CPU µs / request off, on | CPU on / off (median of rounds) |"
echo "|:--|--:|--:|--:|:--|--:|--:|"
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# The 25th to 75th percentile: how far the rounds spread around the median.
quartiles() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { printf "%s-%s", v[int((NR + 3) / 4)], v[int((3 * NR + 3) / 4)] }'; }
for kind in detail upload; do
  off=$(median <<<"${rates[$kind-off]}")
  on=$(median <<<"${rates[$kind-on]}")
  cpu_off=$(median <<<"${cpus[$kind-off]}")
  cpu_on=$(median <<<"${cpus[$kind-on]}")
  echo "| $kind | $off | $on | $(median <<<"${ratios[$kind]}") | $(quartiles <<<"${ratios[$kind]}") | $cpu_off, $cpu_on | $(median <<<"${cpu_ratios[$kind]}") |"
done
