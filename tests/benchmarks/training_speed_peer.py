"""The peer of trainer/benchmarks/training_benchmark.cc: the same network in PyTorch (python3-torch, the
same LibTorch underneath), trained with the same recipe on the same Fashion-MNIST training
examples, batch and threads: SGD with Nesterov momentum 0.9, learning rate 0.05 with a cosine
schedule, weight decay 5e-4, label smoothing 0.1, random 4-pixel crop and horizontal flip done
on the batch, uint8 images turned into floats per batch.

    python3 training_speed_peer.py ARCH_JSON BATCHES BATCH THREADS [--channels-last] [--bf16]
        -> samples/s

As written it is what a PyTorch user would run; --channels-last (with tcmalloc preloaded by the
calling script) is the same script given the trainer's two speed-ups. --bf16 trains under
torch.autocast("cpu", dtype=torch.bfloat16), the loss in fp32, as PyTorch's documentation
shows; ReLU6 then runs as a clamp, because PyTorch 1.13 has no bf16 backward of F.relu6
(hardtanh), which is what a user meeting that error does.
"""
import gzip
import json
import math
import struct
import sys
import time

import numpy as np

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBn(nn.Module):
    def __init__(self, cin, cout, k, stride, groups, act):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        if self.act == "relu":
            return torch.relu(x)
        if self.act == "relu6":
            return torch.clamp(x, 0, 6) if x.dtype == torch.bfloat16 else F.relu6(x)
        return x


class SqueezeExcite(nn.Module):
    def __init__(self, c):
        super().__init__()
        r = max(8, c // 4)
        self.reduce = nn.Conv2d(c, r, 1)
        self.expand = nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = self.expand(torch.relu(self.reduce(s)))
        return x * F.hardsigmoid(s)


class Block(nn.Module):
    def __init__(self, resnet, cin, cout, k, e, se, stride):
        super().__init__()
        self.resnet = resnet
        self.shortcut = None
        if self.resnet:
            self.layers = nn.Sequential(ConvBn(cin, cout, 3, stride, 1, "relu"),
                                        ConvBn(cout, cout, 3, 1, 1, None))
            self.residual = True
            if stride != 1 or cin != cout:
                self.shortcut = ConvBn(cin, cout, 1, stride, 1, None)
        else:
            hidden = cin * e
            layers = []
            if e != 1:
                layers.append(ConvBn(cin, hidden, 1, 1, 1, "relu6"))
            layers.append(ConvBn(hidden, hidden, k, stride, hidden, "relu6"))
            if se:
                layers.append(SqueezeExcite(hidden))
            layers.append(ConvBn(hidden, cout, 1, 1, 1, None))
            self.layers = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.layers(x)
        if not self.residual:
            return y
        y = y + (self.shortcut(x) if self.shortcut is not None else x)
        return torch.relu(y) if self.resnet else y


class Network(nn.Module):
    def __init__(self, arch):
        super().__init__()
        # Basic residual blocks (the "resnet" space, or blocks of that type), else inverted
        # residuals; a stage's stride is its own, else 1 for the first and 2 after.
        def is_resnet(blk):
            t = blk.get("type", "BLOCK_TYPE_UNSPECIFIED")
            return t == "BASIC_RESIDUAL" or (t == "BLOCK_TYPE_UNSPECIFIED" and arch["space"] == "resnet")
        first = arch["stages"][0].get("blocks", [{}])[0]
        resnet_stem = is_resnet(first)
        self.resolution = arch["resolution"]
        self.register_buffer("mean", torch.tensor([0.2860]).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([0.3530]).view(1, 1, 1, 1))
        self.stem = ConvBn(1, arch["stemWidth"], 3, 1, 1, "relu" if resnet_stem else "relu6")
        blocks, cin = [], arch["stemWidth"]
        for s, stage in enumerate(arch["stages"]):
            stage_stride = stage.get("stride", 1 if s == 0 else 2)
            for b, blk in enumerate(stage.get("blocks", [])):
                stride = stage_stride if b == 0 else 1
                blocks.append(Block(is_resnet(blk), cin, stage["width"], blk.get("kernel", 3),
                                    blk.get("expansion", 1), blk.get("squeezeExcite", False), stride))
                cin = stage["width"]
        self.blocks = nn.Sequential(*blocks)
        self.head = None
        if arch.get("headWidth", 0) > 0:
            self.head = ConvBn(cin, arch["headWidth"], 1, 1, 1, "relu6")
            cin = arch["headWidth"]
        self.classifier = nn.Linear(cin, 10)

    def forward(self, images):
        x = (images - self.mean) / self.std
        if x.shape[2] != self.resolution:
            x = F.interpolate(x, size=[self.resolution, self.resolution], mode="bilinear",
                              align_corners=False)
        x = self.blocks(self.stem(x))
        if self.head is not None:
            x = self.head(x)
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def load_idx_images(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, n, h, w = struct.unpack(">IIII", data[:16])
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, h, w).copy())


def load_idx_labels(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return torch.from_numpy(np.frombuffer(data, dtype=np.uint8, offset=8).astype(np.int64))


def augment(images, generator):
    """Random crop with 4 pixels of zero padding and a horizontal flip, per example."""
    n, c, h, w = images.shape
    padded = F.pad(images, (4, 4, 4, 4))
    oy = torch.randint(0, 9, (n,), generator=generator)
    ox = torch.randint(0, 9, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = torch.arange(h)[None, :] + oy[:, None]
    cols = torch.arange(w)[None, :] + ox[:, None]
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None],
                  rows[:, None, :, None], cols[:, None, None, :]]


def main():
    arch = json.loads(open(sys.argv[1]).read())
    batches, batch, threads = map(int, sys.argv[2:5])
    channels_last = "--channels-last" in sys.argv[5:]
    bf16 = "--bf16" in sys.argv[5:]
    data_dir = "/usr/share/datasets/fashion-mnist"
    images = load_idx_images(data_dir + "/train-images-idx3-ubyte.gz")
    labels = load_idx_labels(data_dir + "/train-labels-idx1-ubyte.gz")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    net = Network(arch)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    net.train()

    def train(steps):
        opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
        order = torch.randperm(images.shape[0], generator=generator)
        seen = 0
        t0 = time.perf_counter()
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = 0.05 * 0.5 * (1 + math.cos(math.pi * step / steps))
            index = order[step * batch:(step + 1) * batch]
            x = augment(images[index], generator).float().div_(255)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = labels[index]
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = net(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=0.1)
            loss.backward()
            opt.step()
            loss.item()
            seen += index.shape[0]
        return seen / (time.perf_counter() - t0)

    train(3)
    print(train(batches))


if __name__ == "__main__":
    main()
