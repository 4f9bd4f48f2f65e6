#!/usr/bin/env python3
"""PyTorch eager and torch.compile, side by side with `satunet train` in launch/gpu/check.sh.

The same U-Net as satunet's (plain blocks of two 3x3 convolutions without bias, batch norm and
ReLU; max pooling; transposed-convolution upsampling; the skip features before the upsampled
ones; a 1x1 head), the same loss (cross-entropy, label 255 ignored), AdamW with the same rate
and decay, the same batch, tile and dataset. The tiles are normalised with the manifest's band
statistics and held in GPU memory, so PyTorch has no loader at all: its best case.

With --compiled, each precision runs a second time with the model under torch.compile (the
default mode); its warm-up, which compiles, is not timed, as the eager one's is not.

Prints one JSON line per precision and mode: {"precision", "mode", "samples_per_s", ...}.
"""
import argparse
import json
import os
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from satunet_unet import UNet  # noqa: E402  (satunet's U-Net, its parameter names kept)


def load_train_tiles(dataset, device):
    with open(os.path.join(dataset, "manifest.json")) as file:
        manifest = json.load(file)
    images, labels = [], []
    for shard in manifest["shards"]:
        if shard["split"] != "train":
            continue
        with h5py.File(os.path.join(dataset, shard["path"]), "r") as file:
            images.append(file["images"][:].astype(np.float32))
            labels.append(file["labels"][:])
    mean = np.array([band["mean"] for band in manifest["bands"]], np.float32)
    std = np.array([max(band["std"], 1e-6) for band in manifest["bands"]], np.float32)
    image = (np.concatenate(images) - mean[None, :, None, None]) / std[None, :, None, None]
    return (torch.from_numpy(image).to(device),
            torch.from_numpy(np.concatenate(labels).astype(np.int64)).to(device),
            len(manifest["bands"]), len(manifest["classes"]))


def samples_per_second(model, images, labels, batch, steps, warmup, bf16, lr, seed):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    device = images.device

    def step():
        pick = torch.randint(0, images.shape[0], (batch,), generator=generator).to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(images[pick])
        loss = F.cross_entropy(logits.float(), labels[pick], ignore_index=255)
        loss.backward()
        optimizer.step()
        return loss

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss.item()  # waits for the device
    return batch * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--base", type=int, default=16)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compiled", action="store_true",
                        help="also each precision under torch.compile (PyTorch 2.x)")
    args = parser.parse_args()
    modes = ["eager"]
    if args.compiled:
        if not hasattr(torch, "compile"):
            sys.exit(f"--compiled: torch {torch.__version__} has no torch.compile")
        modes.append("compiled")
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    images, labels, bands, classes = load_train_tiles(args.dataset, device)
    for precision in args.precisions.split(","):
        for mode in modes:
            torch.manual_seed(1)
            model = UNet(bands, classes, args.base, args.depth).to(device)
            parameters = sum(p.numel() for p in model.parameters())
            if mode == "compiled":
                model = torch.compile(model)
            rate = samples_per_second(model, images, labels, args.batch, args.steps, args.warmup,
                                      precision == "bf16", args.lr, 1)
            print(json.dumps({"precision": precision, "mode": mode,
                              "samples_per_s": round(rate, 2), "parameters": parameters,
                              "batch": args.batch, "tile": int(images.shape[-1]),
                              "torch": torch.__version__, "device": str(device)}), flush=True)


if __name__ == "__main__":
    main()
