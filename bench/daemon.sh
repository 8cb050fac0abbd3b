#!/bin/sh
# make bench (daemon part): the HTTP figures of `quantd serve`, measured with wrk on loopback.
# wrk runs on the same machine and shares its cores with the daemon (2 on the project's
# machines), so every figure is for client and server together on those cores.
#
#   start-up       exec to the first answer of /healthz, on an empty state directory
#   idle memory    resident set of the idle daemon: fresh, and after the load below
#   POST           small synthetic train jobs, each durable (fsynced) before its 201,
#                  the daemon with --workers 0 so the jobs are only stored
#   GET one job    GET /api/v1/jobs/{id} of a finished job (result included), >= 10,000 jobs
#   list page      GET /api/v1/jobs?limit=100 with >= 100,000 jobs: newest page, a page deep
#                  in the list by cursor, and a filtered page
#
# Environment: PORT (default 18431), SECONDS_EACH (wrk duration, default 10), JOBS (default
# 100000: jobs in the store for the list figure), OUT (default bench/out/daemon).
set -eu
cd "$(dirname "$0")/.."
PORT=${PORT:-18431}
SECS=${SECONDS_EACH:-10}
JOBS=${JOBS:-100000}
OUT=${OUT:-bench/out/daemon}
BIN=bin/quantd
URL=http://127.0.0.1:$PORT
command -v wrk >/dev/null || { echo "bench/daemon.sh: wrk is missing (make deps)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
STATE="$OUT/state"
PID=

stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap stop EXIT INT TERM

# start WORKERS: the daemon in the background; prints nothing, sets PID
start() {
    "$BIN" serve --listen "127.0.0.1:$PORT" --state "$STATE" --workers "$1" --log-level warn \
        2>>"$OUT/daemon.log" &
    PID=$!
    for _ in $(seq 500); do curl -sf "$URL/healthz" >/dev/null && return; sleep 0.01; done
    echo "bench/daemon.sh: quantd did not start; see $OUT/daemon.log"; exit 1
}
rss_mb() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }
count() { curl -sf "$URL/metrics" | awk '/^quantd_jobs\{/ {n += $2} END {print n + 0}'; }
spec='{"kind": "train", "name": "bench", "dataset": "synthetic", "model": "mlp", "epochs": 1, "subset": {"train": 256, "test": 128}}'
cat > "$OUT/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$spec'
EOF
# wrk's summary: requests/s, p50 and p99 latency in ms, non-2xx count
summary() {
    awk '/Requests\/sec/ {rps = $2}
         /^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
         /Non-2xx/ {bad = $NF}
         function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         END {printf "%.0f %.2f %.2f %d\n", rps, ms(p50), ms(p99), bad + 0}' "$1"
}

# ---- start-up and idle memory, on an empty state directory ----
startup_ms=$(python3 - "$BIN" "$STATE" "$PORT" <<'PY'
import socket, subprocess, sys, time
binary, state, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.monotonic()
p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}", "--state", state,
                      "--workers", "1", "--log-level", "warn"], stderr=subprocess.DEVNULL)
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        if s.recv(64).startswith(b"HTTP/1.1 200"):
            break
    except OSError:
        time.sleep(0.0005)
t = (time.monotonic() - t0) * 1000
p.terminate(); p.wait()
print(f"{t:.1f}")
PY
)
start 1
sleep 1
rss_fresh=$(rss_mb)
# one finished job, with its result, for GET
id=$(curl -sf -H 'Content-Type: application/json' -d "$spec" "$URL/api/v1/jobs" |
     python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for _ in $(seq 500); do
    curl -sf "$URL/api/v1/jobs/$id" | grep -q '"state":"succeeded"' && break; sleep 0.02
done
stop

# ---- POST: durable submissions ----
start 0
wrk -t1 -c32 -d"${SECS}s" -s "$OUT/post.lua" --latency "$URL/api/v1/jobs" > "$OUT/post.txt"
set -- $(summary "$OUT/post.txt"); post_rps=$1 post_p99=$3 post_bad=$4
while [ "$(count)" -lt 10000 ]; do
    wrk -t1 -c32 -d5s -s "$OUT/post.lua" "$URL/api/v1/jobs" > /dev/null
done
jobs_get=$(count)

# ---- GET one job ----
wrk -t1 -c16 -d"${SECS}s" --latency "$URL/api/v1/jobs/$id" > "$OUT/get.txt"
set -- $(summary "$OUT/get.txt"); get_rps=$1 get_p50=$2 get_p99=$3 get_bad=$4

# ---- list pages of 100 from JOBS jobs ----
while [ "$(count)" -lt "$JOBS" ]; do
    wrk -t1 -c32 -d10s -s "$OUT/post.lua" "$URL/api/v1/jobs" > /dev/null
done
jobs_list=$(count)
cursor=$(curl -sf "$URL/api/v1/jobs?limit=1000" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"])')
for page in newest deep filtered; do
    case $page in
        newest) q="limit=100" ;;
        deep) q="limit=100&cursor=$((cursor / 2))" ;;
        filtered) q="limit=100&state=queued&name=bench&cursor=$((cursor / 2))" ;;
    esac
    wrk -t1 -c1 -d"$((SECS / 2 + 1))s" --latency "$URL/api/v1/jobs?$q" > "$OUT/list-$page.txt"
done
set -- $(summary "$OUT/list-newest.txt"); list_p50=$2 list_p99=$3
set -- $(summary "$OUT/list-deep.txt"); deep_p50=$2 deep_p99=$3
set -- $(summary "$OUT/list-filtered.txt"); filt_p50=$2 filt_p99=$3
sleep 2
rss_after=$(rss_mb)
stop

cat <<EOF
quantd serve, wrk on loopback; wrk and the daemon share this machine's $(nproc) cores
figure                                   target          measured
start-up (exec to /healthz 200)          < 100 ms        $startup_ms ms
idle resident memory, fresh              < 20 MB         $rss_fresh MB
idle resident memory, after the load     -               $rss_after MB
POST small jobs, durable (32 conns)      >= 1,000 /s     $post_rps /s (p99 $post_p99 ms, non-2xx $post_bad)
GET /api/v1/jobs/{id}, $jobs_get jobs     >= 10,000 /s    $get_rps /s
  latency (16 conns)                     p99 < 10 ms     p50 $get_p50 ms, p99 $get_p99 ms (non-2xx $get_bad)
list page of 100, $jobs_list jobs, 1 conn
  newest page                            < 20 ms         p50 $list_p50 ms, p99 $list_p99 ms
  a page deep in the list (cursor)       < 20 ms         p50 $deep_p50 ms, p99 $deep_p99 ms
  filtered (state, name) deep page       < 20 ms         p50 $filt_p50 ms, p99 $filt_p99 ms
EOF
