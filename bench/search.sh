#!/bin/sh
# make bench-search: search jobs on Fashion-MNIST cnn-s, from the float model.
#   1. the float model itself, evaluated in this run (a "ptq" run with float formats: no change);
#   2. a uniform search: int weights 2/3/4/6/8 x activations 2/4/8, first and last layers at 8;
#   3. a sensitivity search over the same space, every layer free, budgets 250/350/500 kB total,
#      with each layer option's loss increase measured (PTQ of that layer alone);
#   4. the same with the diagonal-Fisher estimate of that loss increase ("measure": "fisher");
#   5. "long": the Fisher search at one budget of 300 kB (under float / 12) whose candidate is
#      fine-tuned longer (LONG_EPOCHS on all training images), for memory at equal accuracy.
# Every candidate is fine-tuned from the float model for FT_EPOCHS epochs on the first FT_TRAIN
# training images (SGD, lr 0.01, cosine) and tested on the whole test set. Prints both fronts
# (memory, accuracy, bits per layer), the sensitivity search against the uniform front per
# budget, the smallest configuration within 0.3 points of float and its ratio to float's bytes,
# and the wall times. A search finished with the same spec is not run again (its result and wall
# time are kept), and quantd run resumes an interrupted one.
# Environment: FLOAT (the float cnn-s checkpoint; default: bench-accuracy's float run),
# QUANTD (default bin/quantd), THREADS (2), FT_TRAIN (20480), FT_EPOCHS (1), LONG_EPOCHS (3), OUT
# (bench/out/search).
set -eu
cd "$(dirname "$0")/.."
QUANTD=${QUANTD:-bin/quantd}
THREADS=${THREADS:-2}
FT_TRAIN=${FT_TRAIN:-20480}
FT_EPOCHS=${FT_EPOCHS:-1}
LONG_EPOCHS=${LONG_EPOCHS:-3}
OUT=${OUT:-bench/out/search}
STATE=$OUT/state
mkdir -p "$OUT"
if [ -z "${FLOAT:-}" ]; then
    d=$(sed -n 's/^quantd run: job directory //p' bench/out/float.err 2>/dev/null || true)
    FLOAT=${d:+$d/model.qdc}
fi
[ -n "$FLOAT" ] && [ -f "$FLOAT" ] || {
    echo "no float cnn-s model: run make bench-accuracy first, or give FLOAT=path/model.qdc"
    exit 1
}
# a private copy: the searches' specs name it, and nothing else writes it
[ -f "$OUT/float.qdc" ] || cp "$FLOAT" "$OUT/float.qdc"
BASE=$(cd "$OUT" && pwd)/float.qdc

COMMON="\"dataset\": \"fashion-mnist\", \"model\": \"cnn-s\", \"batch_size\": 128, \"seed\": 1,
 \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.01, \"momentum\": 0.9, \"nesterov\": true, \"weight_decay\": 0.0005},
 \"schedule\": \"cosine\", \"subset\": {\"train\": $FT_TRAIN, \"test\": 10000}"
SPACE='"space": {"weight_bits": [2, 3, 4, 6, 8], "activation_bits": [2, 4, 8], "formats": ["int"]}'
cat > "$OUT/float.json" <<JSON
{"kind": "train", "name": "cnn-s float (evaluated)", $COMMON, "epochs": 0,
 "quant": {"method": "ptq", "weights": {"format": "float"}, "activations": {"format": "float"}},
 "init": {"checkpoint": "$BASE"}}
JSON
cat > "$OUT/uniform.json" <<JSON
{"kind": "search", "name": "cnn-s uniform", "method": "uniform", $COMMON,
 "base": {"checkpoint": "$BASE"}, $SPACE, "first_last_bits": 8,
 "budgets": {"total_bytes": [250000, 350000, 500000]}, "finetune_epochs": $FT_EPOCHS}
JSON
cat > "$OUT/sensitivity.json" <<JSON
{"kind": "search", "name": "cnn-s sensitivity", "method": "sensitivity", $COMMON,
 "base": {"checkpoint": "$BASE"}, $SPACE, "calibration_batches": 4,
 "budgets": {"total_bytes": [250000, 300000, 350000, 500000]}, "finetune_epochs": $FT_EPOCHS}
JSON
cat > "$OUT/fisher.json" <<JSON
{"kind": "search", "name": "cnn-s sensitivity (fisher)", "method": "sensitivity", $COMMON,
 "base": {"checkpoint": "$BASE"}, $SPACE, "calibration_batches": 4, "measure": "fisher",
 "budgets": {"total_bytes": [250000, 300000, 350000, 500000]}, "finetune_epochs": $FT_EPOCHS}
JSON
LONG_COMMON=$(echo "$COMMON" | sed "s/\"train\": $FT_TRAIN, //")
cat > "$OUT/long.json" <<JSON
{"kind": "search", "name": "cnn-s sensitivity (fisher), long fine-tuning", "method": "sensitivity",
 $LONG_COMMON, "base": {"checkpoint": "$BASE"}, $SPACE, "calibration_batches": 4, "measure": "fisher",
 "budgets": {"total_bytes": [300000]}, "finetune_epochs": $LONG_EPOCHS}
JSON

run() { # $1 name: result in $OUT/$1.result.json, wall seconds in $OUT/$1.wall
    # done before with this very spec: keep its result and its wall time
    cmp -s "$OUT/$1.json" "$OUT/$1.json.done" 2>/dev/null && [ -s "$OUT/$1.result.json" ] && return 0
    t0=$(date +%s.%N)
    "$QUANTD" run "$OUT/$1.json" --state "$STATE" --threads "$THREADS" 2> "$OUT/$1.err" \
        > "$OUT/$1.result.json" || { echo "$1 failed:"; tail -3 "$OUT/$1.err"; exit 1; }
    echo "$(date +%s.%N) $t0" | awk '{printf "%.1f\n", $1 - $2}' > "$OUT/$1.wall"
    cp "$OUT/$1.json" "$OUT/$1.json.done"
}
run float
run uniform
run sensitivity
run fisher
run long

python3 - "$OUT" "$FT_TRAIN" "$FT_EPOCHS" "$THREADS" "$LONG_EPOCHS" <<'PY'
import json, sys
out, ft_train, ft_epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
long_epochs = int(sys.argv[5])
load = lambda n: json.load(open(f"{out}/{n}.result.json"))
wall = lambda n: float(open(f"{out}/{n}.wall").read())
fl, uni = load("float"), load("uniform")
sens_runs = [("sensitivity", "loss"), ("fisher", "fisher")]
facc, fbytes = fl["test_accuracy"], fl["memory"]["total_bytes"]
kb = lambda b: b / 1000.0
bits = lambda c: " ".join(f"{l['w_bits']}/{l['a_bits']}" for l in c["layers"])

print("cnn-s on Fashion-MNIST, searches from the float model (kB = 1000 bytes)")
print(f"fine-tuning per candidate: {ft_epochs} epoch(s) on the first {ft_train} training images "
      f"(SGD lr 0.01, cosine), tested on all 10000 test images; {threads} threads")
print(f"float: test accuracy {100*facc:.2f}%, total {kb(fbytes):.1f} kB "
      f"(weights {kb(fl['memory']['weight_bytes']):.1f} kB)")
print("bits per layer: w/a of conv0 conv3 conv7 conv10 linear15 linear17 (a = the layer's input)")

def table(title, res, rows):
    print(f"\n{title}")
    print(f"{'cand':>4} {'total kB':>9} {'weight kB':>9} {'acc %':>6} {'vs float':>8}  bits   label")
    for i in rows:
        c = res["candidates"][i]
        print(f"{i:4d} {kb(c['memory']['total_bytes']):9.1f} {kb(c['memory']['weight_bytes']):9.1f} "
              f"{100*c['test_accuracy']:6.2f} {100*(c['test_accuracy']-facc):+8.2f}  {bits(c)}  {c['label']}")

table(f"uniform search: front of {len(uni['candidates'])} candidates", uni, uni["front"])

def best_within(res, b):
    ok = [c for c in res["candidates"] if c["memory"]["total_bytes"] <= b]
    return max(ok, key=lambda c: (c["test_accuracy"], -c["memory"]["total_bytes"])) if ok else None
fmt = lambda c: (f"{100*c['test_accuracy']:.2f}", f"{kb(c['memory']['total_bytes']):.1f}") if c else ("-", "-")
allc = [("uniform", i, c) for i, c in enumerate(uni["candidates"])]
for name, measure in sens_runs:
    sen = load(name)
    table(f"sensitivity search, measure {measure}: every candidate (front: {sen['front']})", sen,
          range(len(sen["candidates"])))
    print(f"per budget: its best within the budget against the uniform front's")
    print(f"{'budget kB':>9} {'sens acc %':>10} {'sens kB':>8} {'uniform acc %':>13} {'uniform kB':>10}  at least uniform")
    for b in sen["budgets"]:
        sb, ub = best_within(sen, b["value"]), best_within(uni, b["value"])
        (sa, sk), (ua, uk) = fmt(sb), fmt(ub)
        verdict = "yes" if sb and (not ub or sb["test_accuracy"] >= ub["test_accuracy"]) else "no"
        print(f"{kb(b['value']):9.0f} {sa:>10} {sk:>8} {ua:>13} {uk:>10}  {verdict}")
    allc += [(f"sensitivity ({measure})", i, c) for i, c in enumerate(sen["candidates"])]

lng = load("long")
table(f"the Fisher search at 300 kB, fine-tuned {long_epochs} epochs on all training images", lng,
      range(len(lng["candidates"])))
allc += [("long fine-tuning", i, c) for i, c in enumerate(lng["candidates"])]

near = [x for x in allc if x[2]["test_accuracy"] >= facc - 0.003]
print()
if near:
    n, i, c = min(near, key=lambda x: x[2]["memory"]["total_bytes"])
    t = c["memory"]["total_bytes"]
    print(f"smallest within 0.3 points of float: {n} candidate {i} ({c['label']}), "
          f"{100*c['test_accuracy']:.2f}%, {kb(t):.1f} kB total = float / {fbytes/t:.1f} "
          f"(target: float / 12 = {kb(fbytes/12):.1f} kB); bits {bits(c)}")
else:
    print("no candidate within 0.3 points of float")
n, i, c = max(allc, key=lambda x: (x[2]["test_accuracy"], -x[2]["memory"]["total_bytes"]))
print(f"most accurate candidate: {n} {i} ({c['label']}) {100*c['test_accuracy']:.2f}% at {kb(c['memory']['total_bytes']):.1f} kB")

cs = lambda r: sum(c["seconds"] for c in r["candidates"])
print(f"\nwall time: uniform search {wall('uniform'):.0f} s ({len(uni['candidates'])} candidates, "
      f"{cs(uni):.0f} s of them in train runs)")
for name, measure in sens_runs + [("long", "fisher, long fine-tuning")]:
    sen = load(name)
    sens = sen["sensitivity"]
    nopt = sum(len(l["options"]) for l in sens["layers"] if not l["fixed"])
    print(f"  sensitivity search ({measure}) {wall(name):.0f} s: sensitivity pass {sens['seconds']:.0f} s "
          f"({len(sens['layers'])} layers x {nopt // max(1, len(sens['layers']))} options on "
          f"{sens['examples']} calibration images), knapsacks {sen.get('choose_seconds', 0):.3f} s "
          f"for {len(sen['budgets'])} budgets, {len(sen['candidates'])} candidates {cs(sen):.0f} s")
print("  scaling: the loss measure runs one PTQ evaluation per layer and option (layers x options);"
      " the Fisher measure one forward-backward pass plus a quantization per layer and option;"
      " each budget adds one knapsack (milliseconds, exact: resolution 1) and at most one"
      " fine-tuned candidate")
print("(wall times include loading the data set per candidate; the machine was shared with other"
      " jobs; run again: finished work is not redone)")
PY
