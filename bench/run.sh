#!/bin/sh
# make bench: training throughput of cnn-s on Fashion-MNIST beside the PyTorch peer
# (../shared/peers/torch_fmnist.py), measured in the same run, float and W4A4 LSQ QAT, with the
# training step's GFLOP/s against OpenBLAS's own SGEMM GFLOP/s and the peak resident memory.
# The long accuracy runs are bench/accuracy.sh (make bench-accuracy).
# Environment: THREADS (default 2), ROUNDS (default 5: ours then the peer, alternating; the
# report is the median of the rounds' ratios), DAEMON (default 1: also bench/daemon.sh).
set -eu
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
PEER=${PEER:-../shared/peers/torch_fmnist.py}
OUT=${OUT:-bench/out}
mkdir -p "$OUT"
cc -O2 $(pkg-config --cflags openblas) bench/sgemm_peak.c -o "$OUT/sgemm_peak" $(pkg-config --libs openblas)

# 100 training steps of batch 128 (+ a tiny test split): the history's images/s is the step rate
spec() { # $1 name, $2 quant section
    cat > "$OUT/$1.json" <<JSON
{"kind": "train", "name": "bench $1", "dataset": "fashion-mnist", "model": "cnn-s",
 "epochs": 1, "batch_size": 128, "seed": 1,
 "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": true, "weight_decay": 0.0005},
 "schedule": "one-cycle", "subset": {"train": 12800, "test": 128} $2}
JSON
}
spec float ''
spec w4a4 ', "quant": {"method": "qat", "weights": {"format": "int", "bits": 4, "per_channel": false},
 "activations": {"format": "int", "bits": 4}, "first_last_bits": 8}'

ours() { # $1 name -> images/s; the result JSON is kept for the FLOP count
    /usr/bin/time -f "%M" -o "$OUT/$1.rss" bin/quantd run "$OUT/$1.json" --state "$OUT/state" \
        --threads "$THREADS" --fresh 2>/dev/null > "$OUT/$1.result.json"
    python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['history'][0]['train_images_per_second'])" \
        "$OUT/$1.result.json"
}
peer() { # $1 bits (0 = float) -> images/s
    /usr/bin/time -f "%M" -o "$OUT/peer$1.rss" /usr/bin/python3 "$PEER" --steps 100 --bits "$1" \
        --threads "$THREADS" 2>/dev/null | sed -n 's/.*train_images_per_s=\([0-9.]*\).*/\1/p'
}

: > "$OUT/float.ours"; : > "$OUT/float.peer"; : > "$OUT/w4a4.ours"; : > "$OUT/w4a4.peer"
for r in $(seq "$ROUNDS"); do
    ours float >> "$OUT/float.ours"; peer 0 >> "$OUT/float.peer"
    ours w4a4 >> "$OUT/w4a4.ours"; peer 4 >> "$OUT/w4a4.peer"
done
peak=$("$OUT/sgemm_peak" "$THREADS" | sed -n 's/sgemm_gflops=\([0-9.]*\).*/\1/p')
python3 - "$OUT" "$peak" "$THREADS" <<'PY'
import json, statistics, sys
out, peak, threads = sys.argv[1], float(sys.argv[2]), sys.argv[3]
rd = lambda f: [float(x) for x in open(f"{out}/{f}").read().split()]
of, pf, oq, pq = rd("float.ours"), rd("float.peer"), rd("w4a4.ours"), rd("w4a4.peer")
med = statistics.median
# ours and the peer run back to back in each round: the ratio of a round is the fair comparison
# on a machine whose speed drifts; the report gives the median of the rounds' ratios
rf = med(a / b for a, b in zip(of, pf))
rq = med(a / b for a, b in zip(oq, pq))
rs = med(a / b for a, b in zip(of, oq))
r = json.load(open(f"{out}/float.result.json"))
macs = sum(l["macs"] for l in r["layers"])
# forward 2*MACs, backward 4*MACs (input and weight gradients), less the first layer's input gradient
flops = 6 * macs - 2 * r["layers"][0]["macs"]
rss = lambda f: int(open(f"{out}/{f}").read().split()[-1]) / 1024
print(f"cnn-s, Fashion-MNIST, batch 128, {threads} threads, {len(of)} rounds (quantd then the peer, alternating)")
print("float images/s per round: quantd " + " ".join(f"{x:.0f}" for x in of) + " | pytorch " + " ".join(f"{x:.0f}" for x in pf))
print("W4A4  images/s per round: quantd " + " ".join(f"{x:.0f}" for x in oq) + " | pytorch " + " ".join(f"{x:.0f}" for x in pq))
print(f"float train images/s:    median quantd {med(of):.1f}, pytorch {med(pf):.1f}; median ratio of rounds {rf:.2f}")
print(f"W4A4 LSQ train images/s: median quantd {med(oq):.1f}, pytorch {med(pq):.1f}; median ratio of rounds {rq:.2f}")
print(f"W4A4 step cost vs float step (quantd, median of rounds): {rs:.3f}x")
print(f"training step: {flops/1e6:.1f} MFLOP/image -> {flops*med(of)/1e9:.1f} GFLOP/s; "
      f"OpenBLAS SGEMM peak {peak:.1f} GFLOP/s ({100*flops*med(of)/1e9/peak:.0f}%)")
# what the issue's QAT target (1.5x the peer's W4A4 images/s) asks of this machine in FP32
need = 1.5 * med(pq) * flops / 1e9
print(f"1.5x the peer's W4A4 rate would be {1.5*med(pq):.0f} images/s = {need:.1f} GFLOP/s of FP32 "
      f"training arithmetic, {100*need/peak:.0f}% of the SGEMM peak; the peer's own float step runs at "
      f"{100*flops*med(pf)/1e9/peak:.0f}%")
print(f"peak resident memory: quantd {rss('float.rss'):.0f} MB (float), {rss('w4a4.rss'):.0f} MB (W4A4); "
      f"pytorch {rss('peer0.rss'):.0f} MB (float), {rss('peer4.rss'):.0f} MB (W4A4)")
PY

# the daemon's HTTP figures (wrk on loopback)
[ "${DAEMON:-1}" = 0 ] || sh bench/daemon.sh
