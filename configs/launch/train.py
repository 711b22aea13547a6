#!/usr/bin/env python3
"""numabench's bundled training job for `numabench launch` (configs/launch-seed.ini).

The seed's experiment in miniature: a small ResNet-like model fed by a
PyTorch DataLoader whose worker processes build synthetic float32 images
(3x1024x1024 by default, like the seed's), so that data loading -- the work
NUMA placement changes -- is a real part of every step. One process per rank
with torchrun's environment (LOCAL_RANK, RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT): with WORLD_SIZE > 1 the ranks train together with
DistributedDataParallel (NCCL on GPUs, gloo on CPUs). It runs on CPUs with
Debian's python3-torch and on GPUs (cuda:LOCAL_RANK) when CUDA torch is there.

It prints one line per --log-every steps and, at the end, the line
`numabench launch --metric 'average throughput: ([0-9.]+)'` reads:

    average throughput: 123.4 samples/s
"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


class Synthetic(Dataset):
    """Images made on demand by the DataLoader's workers, like decoding and
    augmenting would: the samples are different every time, so nothing is
    cached, and the work scales with --image-size."""

    def __init__(self, n, size, classes, seed):
        self.n, self.size, self.classes, self.seed = n, size, classes, seed

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed * 1000003 + i)
        x = torch.rand((3, self.size, self.size), generator=g)
        x = (x - 0.5) / 0.25  # the normalisation of an augmentation pipeline
        return x, i % self.classes


class Block(nn.Module):
    """ResNet's basic block."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = None
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (self.skip(x) if self.skip is not None else x))


class SmallResNet(nn.Module):
    """ResNet-18's shape with --width channels at the first stage and one
    block per stage by default (--blocks 2 is ResNet-18's depth)."""

    def __init__(self, width, blocks, classes):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        layers, cin = [], width
        for stage in range(4):
            cout = width * 2**stage
            for b in range(blocks):
                layers.append(Block(cin, cout, 2 if (b == 0 and stage > 0) else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.body(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image-size", type=int, default=1024, help="images are 3 x S x S float32 [1024]")
    p.add_argument("--batch", type=int, default=8, help="samples per step and rank [8]")
    p.add_argument("--workers", type=int, default=4, help="DataLoader worker processes per rank [4]")
    p.add_argument("--steps", type=int, default=30, help="timed steps [30]")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first [3]")
    p.add_argument("--width", type=int, default=32, help="channels of the first stage [32]")
    p.add_argument("--blocks", type=int, default=1, help="blocks per stage (2: ResNet-18) [1]")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--threads", type=int, default=0, help="torch threads per rank on CPU; 0: torch's choice")
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    local = int(os.environ.get("LOCAL_RANK", "0"))
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    elif a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    model = SmallResNet(a.width, a.blocks, a.classes).to(device)
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if cuda else "gloo", rank=rank, world_size=world)
        model = nn.parallel.DistributedDataParallel(model, device_ids=[local] if cuda else None)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    total = a.warmup + a.steps
    data = Synthetic(total * a.batch, a.image_size, a.classes, a.seed + rank)
    loader = DataLoader(data, batch_size=a.batch, num_workers=a.workers, pin_memory=cuda,
                        persistent_workers=a.workers > 0, prefetch_factor=2 if a.workers > 0 else None)
    print(f"rank {rank}/{world} on {device}: {a.workers} workers, batch {a.batch} of 3x{a.image_size}x{a.image_size}",
          flush=True)

    model.train()
    start = None
    for step, (x, y) in enumerate(loader):
        if step == a.warmup:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % a.log_every == 0:
            print(f"step {step + 1}/{total} loss {loss.item():.4f}", flush=True)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    print(f"steps/s: {a.steps / seconds:.3f}")
    print(f"average throughput: {a.steps * a.batch / seconds:.3f} samples/s", flush=True)
    if world > 1:
        torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
