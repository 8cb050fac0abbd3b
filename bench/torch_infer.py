#!/usr/bin/python3
"""Peer for bench/export.sh: float inference of cnn-s (models/cnn-s.json) in PyTorch (Debian
python3-torch, CPU), on the Fashion-MNIST test set, in eval mode under torch.inference_mode().

The architecture is that of models/cnn-s.json: two blocks of two 3x3 convolutions (32, then 64
channels, padding 1, bias) each followed by batch norm and ReLU, each block ending in 2x2 max
pooling, then linear 3136 -> 256, ReLU, linear 256 -> 10. The weights are random (throughput does
not depend on their values); --fuse folds each batch norm into its convolution first, which is
PyTorch's own best float configuration for inference (torch.ao.quantization.fuse_modules).

Prints one line per round: `torch round R images_per_second X` and, at the end, the median.
usage: torch_infer.py [--threads T] [--rounds R] [--batch B] [--limit N] [--fuse]
"""
import argparse, gzip, statistics, time

import numpy as np
import torch
import torch.nn as nn

D = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def test_images(limit):
    x = idx(D + "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    x = (x - 0.2860) / 0.3530
    if limit:
        x = x[:limit]
    return torch.from_numpy(np.ascontiguousarray(x)).unsqueeze(1)


def cnn_s():
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 256), nn.ReLU(), nn.Linear(256, 10))


def fuse(net):
    names = [[str(i), str(i + 1), str(i + 2)] for i, m in enumerate(net)
             if isinstance(m, nn.Conv2d)]
    return torch.ao.quantization.fuse_modules(net, names)


def one_round(net, x, batch):
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, x.shape[0], batch):
            net(x[i:i + batch])
    return x.shape[0] / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--limit", type=int, default=0, help="first N test images (0 = all 10000)")
    ap.add_argument("--fuse", action="store_true", help="fold batch norm into the convolutions")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    net = cnn_s().eval()
    if a.fuse:
        net = fuse(net)
    x = test_images(a.limit)
    one_round(net, x[:a.batch], a.batch)  # warm-up: allocator, oneDNN primitives
    rates = []
    for r in range(a.rounds):
        rates.append(one_round(net, x, a.batch))
        print(f"torch round {r + 1} images_per_second {rates[-1]:.1f}", flush=True)
    print(f"torch median images_per_second {statistics.median(rates):.1f}")


if __name__ == "__main__":
    main()
