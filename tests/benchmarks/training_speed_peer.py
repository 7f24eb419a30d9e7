"""The peer of trainer/training_benchmark.cc: the same network in PyTorch (python3-torch, the
same LibTorch underneath), trained with the same step on the same batch and threads.

    python3 training_speed_peer.py ARCH_JSON BATCHES BATCH THREADS   -> samples/s
"""
import json
import sys
import time

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
            return torch.clamp(x, 0, 6)
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
        return x * (torch.clamp(s + 3, 0, 6) / 6)


class Block(nn.Module):
    def __init__(self, space, cin, cout, k, e, se, stride):
        super().__init__()
        self.resnet = space == "resnet"
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
        resnet = arch["space"] == "resnet"
        self.resolution = arch["resolution"]
        self.register_buffer("mean", torch.tensor([0.2860]).view(1, 1, 1, 1))
        self.register_buffer("std", torch.tensor([0.3530]).view(1, 1, 1, 1))
        self.stem = ConvBn(1, arch["stemWidth"], 3, 1, 1, "relu" if resnet else "relu6")
        blocks, cin = [], arch["stemWidth"]
        for s, stage in enumerate(arch["stages"]):
            for b, blk in enumerate(stage.get("blocks", [])):
                stride = 2 if s > 0 and b == 0 else 1
                blocks.append(Block(arch["space"], cin, stage["width"], blk.get("kernel", 3),
                                    blk.get("expansion", 1), blk.get("squeezeExcite", False), stride))
                cin = stage["width"]
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(cin, 10)

    def forward(self, images):
        x = (images - self.mean) / self.std
        if x.shape[2] != self.resolution:
            x = F.interpolate(x, size=[self.resolution, self.resolution], mode="bilinear",
                              align_corners=False)
        x = self.blocks(self.stem(x))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def main():
    arch = json.loads(open(sys.argv[1]).read())
    batches, batch, threads = map(int, sys.argv[2:5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = Network(arch)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    net.train()

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(batches):
        step()
    print(batches * batch / (time.perf_counter() - t0))


if __name__ == "__main__":
    main()
