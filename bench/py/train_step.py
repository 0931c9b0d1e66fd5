"""One ANN training step of snnkit's zoo `cnn` written in PyTorch Python, for the side-by-side benchmark.

The network mirrors snnkit's `cnn` (src/snnkit/nn/zoo.cpp): conv16-BN-ReLU-avgpool, conv64-BN-ReLU-avgpool,
fc256-ReLU-dropout, fc10. Same batch, optimizer (SGD momentum 0.9, weight decay 5e-4) and thread count.
Run with Debian's torch: /usr/bin/python3 bench/py/train_step.py --threads 2
"""
import argparse
import json
import time

import torch
import torch.nn as nn


def cnn(c=1, h=28, w=28, classes=10):
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2, 2),
        nn.Conv2d(16, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.AvgPool2d(2, 2),
        nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, classes))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tag", default="")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = cnn()
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, 1, 28, 28)
    y = torch.randint(10, (a.batch,))
    times = []
    for s in range(a.steps + 5):
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        t = (time.perf_counter() - t0) * 1e3
        if s >= 5:
            times.append(t)
    times.sort()
    print(json.dumps({"impl": "pytorch-python" + ("-" + a.tag if a.tag else ""), "arch": "cnn", "batch": a.batch, "threads": torch.get_num_threads(),
                      "median_ms": round(times[len(times) // 2], 3), "min_ms": round(times[0], 3),
                      "max_ms": round(times[-1], 3),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
