#!/bin/sh
# make bench-accuracy: the quantizers' accuracy on Fashion-MNIST cnn-s, 8 epochs of the peer's
# recipe each (bench/specs/), against this project's own float model trained the same way.
# Long: about 15-20 minutes per 8-epoch run on 2 cores. A finished run is not redone: quantd run
# resumes a spec it has seen, so re-running this script only re-evaluates.
# PTQ and AdaQAT fine-tuning start from the float run's model, so float runs first. ONLY splits
# the work, e.g. two chains at THREADS=1 side by side on a 2-core machine.
# Environment: STATE (default bench/out/state), THREADS (default 2), ONLY (space-separated names),
# QUANTD (the binary, default bin/quantd).
set -eu
cd "$(dirname "$0")/.."
STATE=${STATE:-bench/out/state}
QUANTD=${QUANTD:-bin/quantd}
THREADS=${THREADS:-2}
OUT=$(dirname "$STATE")
mkdir -p "$OUT"
run() { # $1 spec file, $2 name -> result in $OUT/$2.result.json
    "$QUANTD" run "$1" --state "$STATE" --threads "$THREADS" 2> "$OUT/$2.err" > "$OUT/$2.result.json" ||
        { echo "$2 failed:"; tail -3 "$OUT/$2.err"; return 1; }
}
want() { [ -z "${ONLY:-}" ] || echo " $ONLY " | grep -q " $1 "; }

want float && run bench/specs/cnn-s-float.json float
derived() { # $1 name, $2 quant section, $3 epochs, $4 optimizer: starts from the float model
    want "$1" || return 0
    FLOAT_DIR=$(sed -n 's/^quantd run: job directory //p' "$OUT/float.err")
    cat > "$OUT/$1.json" <<JSON
{"kind": "train", "name": "cnn-s $1", "dataset": "fashion-mnist", "model": "cnn-s",
 "epochs": $3, "batch_size": 128, "seed": 1, "optimizer": $4, "schedule": "cosine",
 "quant": $2, "init": {"checkpoint": "$FLOAT_DIR/model.qdc"}}
JSON
    run "$OUT/$1.json" "$1"
}
SGD='{"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": true, "weight_decay": 0.0005}'
W4A8='"weights": {"format": "int", "bits": 4, "per_channel": true}, "activations": {"format": "int", "bits": 8}, "first_last_bits": 8'
derived ptq-mmse-res "{\"method\": \"ptq\", $W4A8, \"ptq\": {\"clipping\": \"mmse\", \"residual\": true, \"residual_threshold\": 0.01}}" 0 "$SGD"
derived ptq-mmse "{\"method\": \"ptq\", $W4A8, \"ptq\": {\"clipping\": \"mmse\", \"residual\": false}}" 0 "$SGD"
derived ptq-maxabs "{\"method\": \"ptq\", $W4A8, \"ptq\": {\"clipping\": \"maxabs\", \"residual\": false}}" 0 "$SGD"
derived adaqat-ft '{"method": "adaqat", "step_init": "lsq", "weights": {"format": "int", "bits": 8}, "activations": {"format": "int", "bits": 8}, "first_last_bits": 8, "adaqat": {"granularity": "network", "lambda": 3, "eta": 0.5, "interval": 10, "cost": "bitops", "min_bits": 2, "max_bits": 8}}' 3 "$SGD"
for s in w4a4 w2a2 w6a6 e3m2 hfp8 adaqat; do
    want "$s" && run "bench/specs/cnn-s-$s.json" "$s"
done

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
rows = ["float", "w4a4", "w2a2", "w6a6", "e3m2", "hfp8", "adaqat", "adaqat-ft",
        "ptq-mmse-res", "ptq-mmse", "ptq-maxabs"]
res = {r: json.load(open(f"{out}/{r}.result.json")) for r in rows
       if os.path.exists(f"{out}/{r}.result.json") and os.path.getsize(f"{out}/{r}.result.json")}
f = res["float"]["test_accuracy"]
if "float" not in res:
    sys.exit("no float result yet")
print("cnn-s on Fashion-MNIST (8 epochs of the peer's recipe; PTQ: no retraining; adaqat-ft: 3 epochs from float)")
print(f"{'run':14} {'test acc':>8} {'vs float':>8} {'weight B':>9} {'total B':>9} {'bitops':>10}  bits")
for r in rows:
    if r not in res:
        continue
    x = res[r]
    bits = " ".join(f"{l['w_bits']}/{l['a_bits']}" for l in x["layers"])
    extra = ""
    if "adaqat" in x:
        extra = f"  mean inner w {x['adaqat']['mean_w_bits']:.2f} a {x['adaqat']['mean_a_bits']:.2f}"
    if "ptq" in x:
        extra = "  residual: " + ",".join(l["name"] for l in x["ptq"]["layers"] if l["residual"])
    print(f"{r:14} {100*x['test_accuracy']:8.2f} {100*(x['test_accuracy']-f):+8.2f} "
          f"{x['memory']['weight_bytes']:9d} {x['memory']['total_bytes']:9d} {x['bitops']:10.3g}  {bits}{extra}")
PY
