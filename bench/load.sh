#!/bin/sh
# make bench-load: quantd serve under read load for minutes while two jobs train.
#
# wrk (Debian's wrk) drives the read endpoints and /metrics on loopback, one wrk per endpoint,
# all at once, for SECONDS_LOAD seconds:
#   GET /api/v1/jobs            a page of the newest 100 jobs
#   GET /api/v1/jobs/{id}       one finished job with its result, transitions and errors
#   GET /api/v1/pareto          every finished job as a point, and the front
#   GET /metrics                Prometheus text
# while two `synthetic` mlp train jobs run on the daemon's two workers (one thread each),
# checkpointing every epoch. Prints per endpoint the requests, the non-2xx answers and socket
# errors (goal 0), p50 and p99 latency; the daemon's resident memory sampled every RSS_EVERY
# seconds, with its drift after a warm-up of WARMUP seconds (goal: flat); and the epochs the
# two jobs trained meanwhile. wrk, the daemon and the jobs share this machine's cores, so the
# latencies are those of a loaded machine.
#
# Environment: QUANTD (default bin/quantd), PORT (18451), SECONDS_LOAD (180), CONNS (connections
# per endpoint, 4), WARMUP (30), RSS_EVERY (5), OUT (bench/out/load).
set -eu
cd "$(dirname "$0")/.."
QUANTD=${QUANTD:-bin/quantd}
PORT=${PORT:-18451}
SECS=${SECONDS_LOAD:-180}
CONNS=${CONNS:-4}
WARMUP=${WARMUP:-30}
EVERY=${RSS_EVERY:-5}
OUT=${OUT:-bench/out/load}
URL=http://127.0.0.1:$PORT
command -v wrk >/dev/null || { echo "bench/load.sh: wrk is missing (make deps)"; exit 1; }
[ -x "$QUANTD" ] || { echo "bench/load.sh: no $QUANTD (make)"; exit 1; }
rm -rf "$OUT"
mkdir -p "$OUT"
PID=
stop() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; PID=; }
trap stop EXIT INT TERM

"$QUANTD" serve --listen "127.0.0.1:$PORT" --state "$OUT/state" --workers 2 --threads 1 \
    --log-level warn 2>>"$OUT/daemon.log" &
PID=$!
for _ in $(seq 500); do curl -sf "$URL/healthz" >/dev/null && break; sleep 0.02; done
curl -sf "$URL/healthz" >/dev/null || { echo "bench/load.sh: quantd did not start"; exit 1; }

post() { curl -sf -H 'Content-Type: application/json' -d "$1" "$URL/api/v1/jobs" |
         python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
state() { curl -sf "$URL/api/v1/jobs/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }
epochs() { curl -sf "$URL/api/v1/jobs/$1/metrics" |
           python3 -c 'import json,sys; print(len(json.load(sys.stdin)["epochs"]))'; }

# something to list: 8 small finished jobs (Pareto points), the last one read by id
for i in 1 2 3 4 5 6 7 8; do
    id=$(post "{\"kind\": \"train\", \"name\": \"seed $i\", \"dataset\": \"synthetic\", \"model\": \"mlp\", \"epochs\": 1, \"seed\": $i, \"subset\": {\"train\": 512, \"test\": 256}}")
done
for _ in $(seq 600); do [ "$(state "$id")" = succeeded ] && break; sleep 0.1; done
[ "$(state "$id")" = succeeded ] || { echo "bench/load.sh: the seed jobs did not finish"; exit 1; }
# two jobs that train through the whole run (cancelled at the end)
long='"dataset": "synthetic", "model": "mlp", "epochs": 1000, "subset": {"train": 8192, "test": 512}'
a=$(post "{\"kind\": \"train\", \"name\": \"load a\", $long, \"seed\": 11}")
b=$(post "{\"kind\": \"train\", \"name\": \"load b\", $long, \"seed\": 12}")
for _ in $(seq 300); do
    [ "$(state "$a")" = running ] && [ "$(state "$b")" = running ] && break; sleep 0.1
done
ea0=$(epochs "$a"); eb0=$(epochs "$b")

# resident memory every EVERY seconds, in the background
( t=0; while kill -0 "$PID" 2>/dev/null; do
      awk -v t="$t" '/VmRSS/ {print t, $2}' "/proc/$PID/status" >> "$OUT/rss.txt"
      sleep "$EVERY"; t=$((t + EVERY)); done ) &
SAMPLER=$!

i=0; WRK=
for path in "/api/v1/jobs" "/api/v1/jobs/$id" "/api/v1/pareto" "/metrics"; do
    i=$((i + 1))
    wrk -t1 -c"$CONNS" -d"${SECS}s" --timeout 10s --latency "$URL$path" > "$OUT/wrk-$i.txt" &
    WRK="$WRK $!"
done
for w in $WRK; do wait "$w"; done
kill "$SAMPLER" 2>/dev/null || true
sa=$(state "$a"); sb=$(state "$b"); ea1=$(epochs "$a"); eb1=$(epochs "$b")
curl -sf -X POST "$URL/api/v1/jobs/$a/cancel" >/dev/null || true
curl -sf -X POST "$URL/api/v1/jobs/$b/cancel" >/dev/null || true

# wrk's summary of one run: requests, non-2xx, socket errors, p50 ms, p99 ms
summary() {
    awk 'function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                          if (v ~ /s$/) return v * 1000; return v }
         / requests in / {req = $1} /Non-2xx/ {bad = $NF}
         /Socket errors/ {gsub(",", ""); sock = $4 + $6 + $8 + $10}
         /^ +50%/ {p50 = ms($2)} /^ +99%/ {p99 = ms($2)}
         END {printf "%d %d %d %.2f %.2f\n", req, bad + 0, sock + 0, p50, p99}' "$1"
}
echo "quantd serve under load: $SECS s of wrk ($CONNS connections per endpoint, 4 endpoints at"
echo "once) while 2 jobs train; wrk, the daemon and the jobs share this machine's $(nproc) cores"
printf '%-26s %10s %8s %8s %9s %9s %9s\n' endpoint requests req/s non-2xx sockerr "p50 ms" "p99 ms"
total=0; bad=0; i=0
for name in "GET /api/v1/jobs" "GET /api/v1/jobs/{id}" "GET /api/v1/pareto" "GET /metrics"; do
    i=$((i + 1))
    set -- $(summary "$OUT/wrk-$i.txt")
    printf '%-26s %10d %8.0f %8d %9d %9.2f %9.2f\n' "$name" "$1" \
        "$(awk -v n="$1" -v s="$SECS" 'BEGIN {print n / s}')" "$2" "$3" "$4" "$5"
    total=$((total + $1)); bad=$((bad + $2 + $3))
done
echo "all endpoints: $total requests, $bad non-2xx answers or socket errors"
awk -v w="$WARMUP" '
    {t[NR] = $1; r[NR] = $2}
    END {
        for (i = 1; i <= NR; i++) if (t[i] >= w) { n++; sx += t[i]; sy += r[i];
            sxx += t[i] * t[i]; sxy += t[i] * r[i]; if (!first) first = r[i]; last = r[i];
            if (r[i] > max) max = r[i]; if (!min || r[i] < min) min = r[i] }
        slope = n > 1 ? (n * sxy - sx * sy) / (n * sxx - sx * sx) : 0
        printf "daemon RSS: %.1f MB at start, %.1f MB after the %d s warm-up, %.1f MB at the end;", r[1] / 1024, first / 1024, w, last / 1024
        printf " after warm-up min %.1f, max %.1f MB over %d samples, trend %+.2f MB per minute\n", min / 1024, max / 1024, n, slope * 60 / 1024
    }' "$OUT/rss.txt"
echo "training meanwhile: job a $sa, epochs $ea0 -> $ea1; job b $sb, epochs $eb0 -> $eb1"
echo "(samples in $OUT/rss.txt, wrk output in $OUT/wrk-*.txt)"
