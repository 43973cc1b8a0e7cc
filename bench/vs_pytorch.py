#!/usr/bin/env python3
"""PyTorch beside nnrun on the same machine: MLP-1 and CNN-1 training steps, same model, batch,
optimiser and data, and a side-by-side table.

  python3 bench/vs_pytorch.py [--model mlp1|cnn1|both] [--steps N] [--repeats R] [--threads T]
                              [--nnrun build/nnrun]

PyTorch comes from Debian (apt-get install python3-torch; not installed by setup.sh, it is only
for this comparison). Both sides train on the first N*128 MNIST training images, pixels scaled to
[0, 1] and already in memory (PyTorch: one float32 tensor; nnrun: its device buffer), batch 128,
Adam (lr 1e-3, eps 1e-7 as Keras and nnrun), cross-entropy on logits. One epoch of N steps warms
up, then R epochs of the same N steps are timed and the best gives the figures, as
bench/step_bench.lua does for nnrun (whose bench this script runs, --no-gemm, and reads).
PyTorch runs on the CPU with T threads (default: the machine's cores), the same cores nnrun's
PoCL device has.

The models are nnrun's models/mlp.lua and models/cnn.lua: MLP-1 784-1000-1000-10 (ReLU);
CNN-1 three 4x4 convolutions with Keras 'same' padding (32 filters stride 1, then 64 and 128
stride 2), ReLU, flatten, Dense(10). Keras 'same' pads an even kernel one more row and column at
the bottom and right; nn.ZeroPad2d reproduces that (PyTorch's padding='same' does not allow
stride 2). Parameter counts are printed and must equal nnrun's: 1,796,010 and 227,306.
"""
import argparse
import os
import re
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as tnn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 128
EPOCH_IMAGES = 60000


def read_idx_images(path, n):
    """(n, 784) float32 in [0, 1] from an uncompressed IDX image file (magic 0x00000803)."""
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(16), dtype=">u4")
        if header[0] != 0x803:
            sys.exit(f"{path}: not an IDX image file (magic {header[0]:#x})")
        pixels = np.frombuffer(f.read(n * 784), dtype=np.uint8)
    return pixels.reshape(n, 784).astype(np.float32) / 255.0


def read_idx_labels(path, n):
    with open(path, "rb") as f:
        header = np.frombuffer(f.read(8), dtype=">u4")
        if header[0] != 0x801:
            sys.exit(f"{path}: not an IDX label file (magic {header[0]:#x})")
        return np.frombuffer(f.read(n), dtype=np.uint8).astype(np.int64)


def same_pad(size, kernel, stride):
    """Keras 'same' padding (before, after) for one dimension: the odd pixel goes after."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def mlp1():
    return tnn.Sequential(tnn.Linear(784, 1000), tnn.ReLU(), tnn.Linear(1000, 1000), tnn.ReLU(),
                          tnn.Linear(1000, 10))


def cnn1():
    layers, channels, size = [tnn.Unflatten(1, (1, 28, 28))], 1, 28
    for i, filters in enumerate([32, 64, 128]):
        stride = 1 if i == 0 else 2
        before, after = same_pad(size, 4, stride)
        layers += [tnn.ZeroPad2d((before, after, before, after)), tnn.Conv2d(channels, filters, 4, stride),
                   tnn.ReLU()]
        channels, size = filters, (size + stride - 1) // stride
    layers += [tnn.Flatten(), tnn.Linear(channels * size * size, 10)]
    return tnn.Sequential(*layers)


MODELS = {
    "mlp1": ("MLP-1", mlp1, "bench/mlp1.lua", 1796010),
    "cnn1": ("CNN-1", cnn1, "bench/cnn1.lua", 227306),
}


def time_pytorch(build, x, y, steps, repeats):
    torch.manual_seed(1)
    model = build()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = tnn.CrossEntropyLoss()
    epochs = []
    for epoch in range(1 + repeats):
        order = torch.randperm(x.shape[0])
        start = time.perf_counter()
        for s in range(steps):
            idx = order[s * BATCH:(s + 1) * BATCH]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        loss.item()
        if epoch > 0:
            epochs.append((time.perf_counter() - start) / steps)
    return params, min(epochs)


def time_nnrun(nnrun, script, steps, repeats):
    out = subprocess.run([nnrun, script, "--steps", str(steps), "--repeats", str(repeats), "--no-gemm"],
                         cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{nnrun} {script} failed:\n{out.stderr.strip()}")
    params = int(re.search(r"parameters\s+([\d,]+)", out.stdout).group(1).replace(",", ""))
    step_ms = float(re.search(r"step \(batch \d+\)\s+([\d.]+) ms best", out.stdout).group(1))
    device = re.search(r" on (.*) \(GEMM engine (.*)\),", out.stdout)
    return params, step_ms / 1e3, f"{device.group(1)}, GEMM {device.group(2)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["mlp1", "cnn1", "both"], default="both")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--nnrun", default=os.path.join(ROOT, "build", "nnrun"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = os.environ.get("NN_DATA", os.path.join(ROOT, "data"))
    n = args.steps * BATCH
    x = torch.from_numpy(read_idx_images(os.path.join(data, "mnist", "train-images-idx3-ubyte"), n))
    y = torch.from_numpy(read_idx_labels(os.path.join(data, "mnist", "train-labels-idx1-ubyte"), n))
    steps_per_epoch = (EPOCH_IMAGES + BATCH - 1) // BATCH
    print(f"PyTorch {torch.__version__} on the CPU ({args.threads} threads) against nnrun, batch {BATCH}, "
          f"{args.steps} steps x {args.repeats} timed epochs (best), {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print()
    print("| model | parameters | PyTorch step (ms) | PyTorch epoch (s) | nnrun step (ms) | nnrun epoch (s) | nnrun speed-up |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    devices = set()
    for key in (["mlp1", "cnn1"] if args.model == "both" else [args.model]):
        name, build, script, expect = MODELS[key]
        p_params, p_step = time_pytorch(build, x, y, args.steps, args.repeats)
        n_params, n_step, device = time_nnrun(args.nnrun, script, args.steps, args.repeats)
        if p_params != expect or n_params != expect:
            sys.exit(f"{name}: PyTorch has {p_params} parameters and nnrun {n_params}; both should have {expect}")
        devices.add(device)
        print(f"| {name} | {p_params:,} | {p_step * 1e3:.1f} | {p_step * steps_per_epoch:.1f} | {n_step * 1e3:.1f} | "
              f"{n_step * steps_per_epoch:.1f} | {p_step / n_step:.2f}x |")
    print()
    print("Epochs are the best step times x %d steps (60,000 images). nnrun device: %s." %
          (steps_per_epoch, "; ".join(sorted(devices))))


if __name__ == "__main__":
    main()
