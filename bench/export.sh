#!/bin/sh
# make bench-export: exported cnn-s models on Fashion-MNIST.
#  1. sizes: model.qmodel, the generated C and ONNX of W4A4, W8A8, a mixed-precision model and
#     float, against the float model's weights and the cost model's weight bytes;
#  2. accuracy: each exported model run by the runtime on the 10,000 test images, against the
#     accuracy its train job reported (the target: within 0.1 points), and the agreement of
#     the predictions with the fake-quantized model;
#  3. speed: `quantd infer` of W8A8 and W4A4 at THREADS threads against PyTorch's float
#     inference of the same network (bench/torch_infer.py), alternating in ROUNDS rounds; the
#     per-round ratios and their median.
# The models: trained cnn-s checkpoints, copied (never modified) from W4A4_CKPT and FLOAT_CKPT,
# by default the 8-epoch W4A4 LSQ QAT and float runs of bench/accuracy.sh found through
# /tmp/bench/{w4a4,float}.err (their result JSON beside them gives the train accuracy); W8A8 is
# MMSE PTQ of the float model (epochs 0), and the mixed-precision model fine-tunes W4A4 for one
# epoch with quant.layers (8-bit first and last layers, 4-bit convolutions, 2-bit weights in the
# 3136x256 linear layer). Both are trained here once and kept in $OUT/state.
# Environment: QUANTD (default bin/quantd), THREADS (2), ROUNDS (5), OUT (bench/out/export).
set -eu
cd "$(dirname "$0")/.."
QUANTD=${QUANTD:-bin/quantd}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-5}
OUT=${OUT:-bench/out/export}
PY=/usr/bin/python3
mkdir -p "$OUT/ckpt" "$OUT/state"

# ---- the models ----
bench_dir() { # $1 name -> the job directory a /tmp/bench run printed
    sed -n 's/^quantd run: job directory //p' "/tmp/bench/$1.err" 2>/dev/null | tail -n 1
}
W4A4_CKPT=${W4A4_CKPT:-$(bench_dir w4a4)/model.qdc}
FLOAT_CKPT=${FLOAT_CKPT:-$(bench_dir float)/model.qdc}
for m in w4a4 float; do
    src=$(eval echo "\$$(echo $m | tr a-z A-Z)_CKPT")
    [ -f "$OUT/ckpt/$m.qdc" ] || cp "$src" "$OUT/ckpt/$m.qdc" || {
        echo "bench-export: no $m checkpoint at $src (set $(echo $m | tr a-z A-Z)_CKPT, or run make bench-accuracy)" >&2
        exit 1; }
    [ -f "$OUT/ckpt/$m.result.json" ] || cp "/tmp/bench/$m.result.json" "$OUT/ckpt/" 2>/dev/null || true
done

train() { # $1 name, $2 spec: trained once into $OUT/ckpt/$1.qdc with its result
    [ -f "$OUT/ckpt/$1.qdc" ] && return 0
    printf '%s\n' "$2" > "$OUT/$1.train.json"
    "$QUANTD" run "$OUT/$1.train.json" --state "$OUT/state" --threads "$THREADS" \
        > "$OUT/ckpt/$1.result.json" 2> "$OUT/$1.train.err"
    cp "$(sed -n 's/^quantd run: job directory //p' "$OUT/$1.train.err")/model.qdc" "$OUT/ckpt/$1.qdc"
}
train w8a8 '{"kind": "train", "name": "cnn-s ptq w8a8", "dataset": "fashion-mnist", "model": "cnn-s",
 "epochs": 0, "batch_size": 128, "seed": 1,
 "quant": {"method": "ptq", "weights": {"format": "int", "bits": 8, "per_channel": true},
           "activations": {"format": "int", "bits": 8}, "ptq": {"clipping": "mmse", "residual": false}},
 "init": {"checkpoint": "'"$OUT"'/ckpt/float.qdc"}}'
train mixed '{"kind": "train", "name": "cnn-s mixed", "dataset": "fashion-mnist", "model": "cnn-s",
 "epochs": 1, "batch_size": 128, "seed": 1,
 "optimizer": {"name": "sgd", "lr": 0.005, "momentum": 0.9, "nesterov": true, "weight_decay": 0.0005},
 "schedule": "cosine",
 "quant": {"method": "qat", "weights": {"format": "int", "per_channel": true},
           "layers": [{"w_bits": 8, "a_bits": 8}, {"w_bits": 4, "a_bits": 4}, {"w_bits": 4, "a_bits": 4},
                      {"w_bits": 4, "a_bits": 4}, {"w_bits": 2, "a_bits": 4}, {"w_bits": 8, "a_bits": 8}]},
 "init": {"checkpoint": "'"$OUT"'/ckpt/w4a4.qdc"}}'

# ---- exports: every format of every model (C and ONNX on 1,000 images: sizes only) ----
export_one() { # $1 model, $2 format, $3 test images (0 = all)
    subset=""
    [ "$3" -gt 0 ] && subset=", \"subset\": {\"test\": $3}"
    printf '{"kind": "export", "checkpoint": "%s/ckpt/%s.qdc", "format": "%s", "dataset": "fashion-mnist"%s}\n' \
        "$OUT" "$1" "$2" "$subset" > "$OUT/$1.$2.export.json"
    "$QUANTD" run "$OUT/$1.$2.export.json" --state "$OUT/state" --threads "$THREADS" --fresh \
        > "$OUT/$1.$2.result.json" 2> "$OUT/$1.$2.export.err"
}
for m in w4a4 w8a8 mixed float; do
    export_one $m qmodel 0
    export_one $m c 1000
    export_one $m onnx 1000
done
qmodel_of() { echo "$(sed -n 's/^quantd run: job directory //p' "$OUT/$1.qmodel.export.err")/model.qmodel"; }
# what the generated C weighs compiled (text + data + bss of the object, -O2)
for m in w4a4 w8a8 mixed float; do
    d=$(sed -n 's/^quantd run: job directory //p' "$OUT/$m.c.export.err")
    cc -std=c11 -O2 -c "$d/qd_model.c" -o "$OUT/$m.o"
    echo "$m $(size "$OUT/$m.o" | awk 'NR == 2 {print $1 + $2 + $3}')"
done > "$OUT/csize.txt"

# ---- throughput: ours and the peer alternate, round by round ----
echo "load before the throughput rounds: $(cut -d' ' -f1-3 /proc/loadavg)" > "$OUT/speed.txt"
for r in $(seq "$ROUNDS"); do
    for m in w8a8 w4a4; do
        "$QUANTD" infer "$(qmodel_of $m)" --dataset fashion-mnist --threads "$THREADS" --json \
            | $PY -c "import json,sys; print('$m', json.load(sys.stdin)['images_per_second'][0])"
    done >> "$OUT/speed.txt"
    $PY bench/torch_infer.py --threads "$THREADS" --rounds 1 | sed -n 's/^torch round 1 images_per_second/torch/p' \
        >> "$OUT/speed.txt"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/speed.txt"

$PY - "$OUT" "$THREADS" <<'PY' | tee "$OUT/export.txt"
import json, statistics, sys
out, threads = sys.argv[1], sys.argv[2]
load = lambda f: json.load(open(f"{out}/{f}"))
models = ["w4a4", "w8a8", "mixed", "float"]
float_bytes = load("float.qmodel.result.json")["sizes"]["float_weight_bytes"]
print(f"cnn-s exported (float weights: {float_bytes:,} bytes)\n")
csize = dict(l.split() for l in open(f"{out}/csize.txt"))
print(f"{'model':7} {'w/a bits per layer':24} {'qmodel':>9} {'/cost':>7} {'C source':>10} "
      f"{'C object':>10} {'ONNX':>10} {'qmodel/float':>12}")
for m in models:
    q, c, o = (load(f"{m}.{f}.result.json") for f in ("qmodel", "c", "onnx"))
    pairs = [f"{l['w_bits']}/{l['a_bits']}" for l in q["layers"]]
    bits = f"{pairs[0]} x{len(pairs)}" if len(set(pairs)) == 1 else ",".join(pairs)
    size = lambda r, n: next(f["bytes"] for f in r["files"] if f["name"].endswith(n))
    s = q["sizes"]
    print(f"{m:7} {bits:24} {s['qmodel_bytes']:>9,} {s['qmodel_over_cost']:>7.4f} "
          f"{size(c, '.c'):>10,} {int(csize[m]):>10,} {size(o, '.onnx'):>10,} "
          f"{s['qmodel_bytes'] / float_bytes:>12.4f}")
print("(/cost: the qmodel file over the cost model's weight bytes; C object: text + data + bss "
      "(the static arena) of qd_model.c compiled with -O2)")
print(f"\n{'model':7} {'train job':>9} {'exported':>9} {'diff (pts)':>10} {'agreement':>9} "
      f"{'max |dlogit|':>12}")
for m in models:
    q = load(f"{m}.qmodel.result.json")
    try:
        train = load(f"ckpt/{m}.result.json")["test_accuracy"]
    except (OSError, ValueError, KeyError):
        train = float("nan")
    cmp = q["comparison"]
    print(f"{m:7} {train:>9.4f} {q['test_accuracy']:>9.4f} {100 * (q['test_accuracy'] - train):>+10.2f} "
          f"{cmp['agreement']:>9.4f} {cmp['max_logit_diff']:>12.4f}")
rows = [l.split() for l in open(f"{out}/speed.txt") if not l.startswith("load")]
loads = [l.strip() for l in open(f"{out}/speed.txt") if l.startswith("load")]
rounds, cur = [], {}
for name, v in rows:
    cur[name] = float(v)
    if name == "torch":
        rounds.append(cur)
        cur = {}
print(f"\nimages/s at {threads} threads, 10,000 test images, rounds alternating ours and PyTorch "
      f"float ({'; '.join(loads)}; the 2 cores are shared with other benchmarks):")
print(f"{'round':>5} {'w8a8':>8} {'w4a4':>8} {'torch':>8} {'w8a8/torch':>10} {'w4a4/torch':>10}")
for i, r in enumerate(rounds):
    print(f"{i + 1:>5} {r['w8a8']:>8.0f} {r['w4a4']:>8.0f} {r['torch']:>8.0f} "
          f"{r['w8a8'] / r['torch']:>10.2f} {r['w4a4'] / r['torch']:>10.2f}")
med = statistics.median
print(f"median ratio: W8A8 {med(r['w8a8'] / r['torch'] for r in rounds):.2f}x, "
      f"W4A4 {med(r['w4a4'] / r['torch'] for r in rounds):.2f}x (target >= 1.5x)")
PY
