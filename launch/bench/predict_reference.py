#!/usr/bin/python3
"""The Python user's predict + stitch, side by side with satunet in `launch/bench.sh python`.

What a user of rasterio and PyTorch writes to segment a whole scene with a satunet checkpoint:
windows read with rasterio, normalised with the checkpoint's band statistics, a batch at a
time through the same U-Net (its weights loaded from the checkpoint, which torch.jit.load
reads), softmax, a Gaussian blend (sigma = window / 8, as nnU-Net) summed into scene-sized
arrays, argmax, a tiled DEFLATE GeoTIFF with the scene's georeferencing. The kernels are
LibTorch's, as satunet's: only what is around them differs.
"""
import argparse
import json

import numpy as np
import rasterio
import torch
from rasterio.windows import Window

from satunet_unet import UNet


def load(checkpoint):
    archive = torch.jit.load(checkpoint, map_location="cpu")
    options = json.loads(archive.model_options)
    plain = (options["norm"], options["block"], options["upsampling"], options["attention"])
    if plain != ("batch", "plain", "transpose", False):
        raise SystemExit(f"{checkpoint}: only the plain U-Net is mirrored here, not {options}")
    model = UNet(options["in_channels"], options["classes"], options["base"], options["depth"])
    model.load_state_dict(archive.model.state_dict(), strict=True)
    bands = json.loads(archive.bands)
    mean = np.array([band["mean"] for band in bands], np.float32)[:, None, None]
    std = np.array([max(band["std"], 1e-6) for band in bands], np.float32)[:, None, None]
    return model.eval(), mean, std, options["classes"]


def starts(size, window, overlap):
    """Window offsets spread evenly from 0 to size - window, neighbours overlapping by at least
    `overlap` (nnU-Net's sliding window, and satunet's)."""
    if size <= window:
        return [0]
    span = size - window
    steps = -(-span // (window - overlap))
    return [(span * i + steps // 2) // steps for i in range(steps + 1)]


def gaussian(window):
    centre = (window - 1) / 2
    sigma = window / 8
    axis = np.exp(-((np.arange(window) - centre) ** 2) / (2 * sigma**2)).astype(np.float32)
    weights = np.outer(axis, axis)
    return weights / weights.max()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, mean, std, classes = load(args.checkpoint)
    weights = gaussian(args.window)
    with rasterio.open(args.image) as scene:
        height, width, nodata = scene.height, scene.width, scene.nodata
        sums = np.zeros((classes, height, width), np.float32)
        weight_sum = np.zeros((height, width), np.float32)
        valid = np.ones((height, width), bool)
        windows = [(x, y) for y in starts(height, args.window, args.overlap)
                   for x in starts(width, args.window, args.overlap)]
        with torch.no_grad():
            for first in range(0, len(windows), args.batch):
                batch = windows[first:first + args.batch]
                pixels = [scene.read(window=Window(x, y, args.window, args.window)).astype(np.float32)
                          for x, y in batch]
                if nodata is not None:
                    for (x, y), tile in zip(batch, pixels):
                        valid[y:y + args.window, x:x + args.window] &= ~np.all(tile == nodata, 0)
                inputs = torch.from_numpy(np.stack([(tile - mean) / std for tile in pixels]))
                probabilities = torch.softmax(model(inputs), 1).numpy()
                for (x, y), p in zip(batch, probabilities):
                    sums[:, y:y + args.window, x:x + args.window] += p * weights
                    weight_sum[y:y + args.window, x:x + args.window] += weights
        mask = np.argmax(sums, 0).astype(np.uint8)
        mask[~valid | (weight_sum == 0)] = 255
        profile = scene.profile.copy()
    profile.update(driver="GTiff", count=1, dtype="uint8", nodata=255, compress="deflate",
                   tiled=True, blockxsize=256, blockysize=256)
    with rasterio.open(args.out, "w", **profile) as out:
        out.write(mask, 1)
    print(f"{len(windows)} windows of {args.window} px -> {args.out}")


if __name__ == "__main__":
    main()
