#!/usr/bin/python3
"""The Python user's data-parallel training, side by side with satunet in `launch/bench.sh python`.

What a PyTorch user writes to train on satunet's HDF5 shards: an h5py Dataset (each loader
worker opens the shards itself), the manifest's band statistics for normalisation, a
DistributedSampler, a DataLoader with one worker process reading ahead, the same U-Net
(launch/bench/satunet_unet.py), DistributedDataParallel over gloo, AdamW, cross-entropy with
255 ignored, a constant learning rate. Started by mpirun as satunet is (one process per rank;
gloo's rendezvous on the loopback address, --port), 1 thread per rank. Prints the steps, the last loss and the wall time of
the steps after the first (rank 0).
"""
import argparse
import json
import os
import time

import h5py
import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from satunet_unet import UNet


class Shards(Dataset):
    """The train tiles of a satunet dataset, in manifest order."""

    def __init__(self, root):
        with open(os.path.join(root, "manifest.json")) as file:
            manifest = json.load(file)
        self.paths = [os.path.join(root, shard["path"]) for shard in manifest["shards"]
                      if shard["split"] == "train"]
        self.index = [(s, i) for s, shard in enumerate(manifest["shards"])
                      if shard["split"] == "train" for i in range(shard["tiles"])]
        bands = manifest["bands"]
        self.mean = np.array([b["mean"] for b in bands], np.float32)[:, None, None]
        self.scale = 1 / np.array([max(b["std"], 1e-6) for b in bands], np.float32)[:, None, None]
        self.classes = len(manifest["classes"])
        self.files = None  # opened in each worker process

    def __len__(self):
        return len(self.index)

    def __getitem__(self, item):
        if self.files is None:
            self.files = [h5py.File(path, "r") for path in self.paths]
        shard, tile = self.index[item]
        image = self.files[shard]["images"][tile].astype(np.float32)
        labels = self.files[shard]["labels"][tile].astype(np.int64)
        return torch.from_numpy((image - self.mean) * self.scale), torch.from_numpy(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--base", type=int, default=8)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--port", type=int, default=29500)
    args = parser.parse_args()

    torch.set_num_threads(1)
    rank = int(os.environ.get("OMPI_COMM_WORLD_RANK", 0))
    world = int(os.environ.get("OMPI_COMM_WORLD_SIZE", 1))
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{args.port}", rank=rank,
                            world_size=world)
    torch.manual_seed(1)
    data = Shards(args.data)
    model = UNet(data.mean.shape[0], data.classes, args.base, args.depth)
    model = DistributedDataParallel(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    sampler = DistributedSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=1,
                                 drop_last=True)
    loader = DataLoader(data, batch_size=args.batch, sampler=sampler, num_workers=1,
                        drop_last=True, prefetch_factor=2, persistent_workers=True)
    step, epoch, started, loss = 0, 0, None, None
    model.train()
    while step < args.steps:
        sampler.set_epoch(epoch)
        for images, labels in loader:
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(images), labels, ignore_index=255)
            loss.backward()
            optimizer.step()
            step += 1
            if step == 1:
                started = time.perf_counter()
            if step == args.steps:
                break
        epoch += 1
    seconds = time.perf_counter() - started
    if rank == 0:
        print(f"steps {step} loss {loss.item():.4f} seconds_after_first {seconds:.2f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
