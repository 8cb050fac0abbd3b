#!/usr/bin/python3
"""A small NumPy evaluator of the operators quantd's ONNX export writes (jobs/export_onnx.c), so
that tests/check_export.c can check what the exported graph computes, not only that
onnx.checker accepts it (python3-onnx 1.12 has no reference runtime).

usage: onnx_eval.py MODEL.onnx IMAGES.f32 N LOGITS.f32
  IMAGES.f32: N images as float32 [N, C, H, W] (the model's input); writes float32 [N, classes].
Prints the operator types it ran. Exits 1 on an operator it does not know.
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def per_axis(v, x, axis):
    """v (scalar or 1-D along axis) shaped to broadcast against x."""
    if v.ndim == 0:
        return v
    shape = [1] * x.ndim
    shape[axis] = v.size
    return v.reshape(shape)


def quantize(i, a):
    x, s = i[0], i[1]
    zp = i[2] if len(i) > 2 else np.zeros((), np.uint8)
    ax = a.get("axis", 1)
    info = np.iinfo(zp.dtype)
    q = np.rint(x / per_axis(s, x, ax)) + per_axis(zp, x, ax).astype(np.float32)
    return np.clip(q, info.min, info.max).astype(zp.dtype)


def dequantize(i, a):
    q, s = i[0], i[1]
    zp = i[2] if len(i) > 2 else np.zeros((), q.dtype)
    ax = a.get("axis", 1)
    return ((q.astype(np.int32) - per_axis(zp, q, ax).astype(np.int32)).astype(np.float32)
            * per_axis(s, q, ax))


def windows(x, a, fill):
    k = a["kernel_shape"]
    s = a.get("strides", [1, 1])
    p = a.get("pads", [0, 0, 0, 0])
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=fill)
    w = np.lib.stride_tricks.sliding_window_view(xp, tuple(k), axis=(2, 3))
    return w[:, :, ::s[0], ::s[1]]


def conv(i, a):
    x, w = i[0], i[1]
    a = dict(a, kernel_shape=list(w.shape[2:]))
    y = np.einsum("nchwij,ocij->nohw", windows(x, a, 0.0), w, dtype=np.float32)
    if len(i) > 2:
        y = y + i[2].reshape(1, -1, 1, 1)
    return y.astype(np.float32)


def gemm(i, a):
    b = i[1].T if a.get("transB", 0) else i[1]
    y = i[0] @ b
    return (y + i[2] if len(i) > 2 else y).astype(np.float32)


def avgpool(i, a):
    k = a["kernel_shape"]
    return (windows(i[0], a, 0.0).sum(axis=(4, 5)) / np.float32(k[0] * k[1])).astype(np.float32)


OPS = {
    "QuantizeLinear": quantize,
    "DequantizeLinear": dequantize,
    "Clip": lambda i, a: np.clip(i[0], i[1], i[2]),
    "Conv": conv,
    "Gemm": gemm,
    "Relu": lambda i, a: np.maximum(i[0], np.float32(0)),
    "MaxPool": lambda i, a: windows(i[0], a, -np.inf).max(axis=(4, 5)),
    "AveragePool": avgpool,
    "GlobalAveragePool": lambda i, a: i[0].mean(axis=(2, 3), keepdims=True, dtype=np.float32),
    "Flatten": lambda i, a: i[0].reshape(i[0].shape[0], -1),
    "Add": lambda i, a: i[0] + i[1],
    "Mul": lambda i, a: i[0] * i[1],
    "Div": lambda i, a: i[0] / i[1],
    "Min": lambda i, a: np.minimum(i[0], i[1]),
    "Abs": lambda i, a: np.abs(i[0]),
    "Sign": lambda i, a: np.sign(i[0]),
    "Round": lambda i, a: np.rint(i[0]),
    "GreaterOrEqual": lambda i, a: i[0] >= i[1],
    "Where": lambda i, a: np.where(i[0], i[1], i[2]),
}


def run(model, x):
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env["input"] = x
    for n in model.graph.node:
        if n.op_type not in OPS:
            sys.exit(f"onnx_eval: no operator {n.op_type}")
        attrs = {t.name: helper.get_attribute_value(t) for t in n.attribute}
        env[n.output[0]] = OPS[n.op_type]([env[i] for i in n.input if i], attrs)
    return env["logits"]


def main():
    model = onnx.load(sys.argv[1])
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:]]
    n = int(sys.argv[3])
    x = np.fromfile(sys.argv[2], np.float32, count=n * int(np.prod(dims))).reshape([n] + dims)
    with np.errstate(all="ignore"):
        run(model, x).astype(np.float32).tofile(sys.argv[4])
    print(" ".join(sorted({n.op_type for n in model.graph.node})))


if __name__ == "__main__":
    main()
