#!/usr/bin/python3
"""PyTorch reference for `kws` training speed (bench/train.ts runs this side by side).

Trains the notebooks' three models (--arch seed in kws) with the same shapes, batch size and
optimiser as kws does, and prints seconds per epoch. Run with Debian's python3-torch:

    /usr/bin/python3 bench/pytorch_train.py --threads 2 --json
    /usr/bin/python3 bench/pytorch_train.py --models mfcc --data DIR --epochs 8 --json

With --data, it trains on the features kws computed for the same clips (DIR/train_x.npy,
train_y.npy, val_x.npy, val_y.npy, written by bench/train.ts; channels last as kws stores them)
and reports the validation accuracy after every epoch. Without it, the data are random tensors of
the models' input shapes (speed does not depend on the values); --clips sets how many training
clips one epoch holds (1,080 = 60 % of the 1,800-clip dataset). An epoch is timed from its shuffle
to the end of its validation pass, as kws times its epochs; the first epoch is a warm-up and is
not in the median.
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Seed2D(nn.Module):
    """Conv2D(f, 4x10, same) -> BN -> ReLU -> MaxPool 2x2 -> Flatten -> Dense(u) -> BN -> ReLU -> Dense(n)."""

    def __init__(self, rows, frames, filters, units, classes):
        super().__init__()
        self.conv = nn.Conv2d(1, filters, (4, 10), padding='same')
        self.bn1 = nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01)
        self.fc = nn.Linear(filters * (rows // 2) * (frames // 2), units)
        self.bn2 = nn.BatchNorm1d(units, eps=1e-3, momentum=0.01)
        self.out = nn.Linear(units, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv(x))), 2)
        x = F.relu(self.bn2(self.fc(torch.flatten(x, 1))))
        return self.out(x)


class SeedRaw(nn.Module):
    """Conv1D(16,9)x2 -> MaxPool(16) -> Drop .1 -> Conv1D(32,3)x2 -> MaxPool(4) -> Drop .1 ->
    Conv1D(128,3)x2 -> GlobalMaxPool -> Drop .2 -> Dense(32) -> Dense(256) -> Dense(n)."""

    def __init__(self, classes):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 9)
        self.c2 = nn.Conv1d(16, 16, 9)
        self.c3 = nn.Conv1d(16, 32, 3)
        self.c4 = nn.Conv1d(32, 32, 3)
        self.c5 = nn.Conv1d(32, 128, 3)
        self.c6 = nn.Conv1d(128, 128, 3)
        self.d1 = nn.Linear(128, 32)
        self.d2 = nn.Linear(32, 256)
        self.out = nn.Linear(256, classes)

    def forward(self, x):
        x = F.dropout(F.max_pool1d(F.relu(self.c2(F.relu(self.c1(x)))), 16), 0.1, self.training)
        x = F.dropout(F.max_pool1d(F.relu(self.c4(F.relu(self.c3(x)))), 4), 0.1, self.training)
        x = F.relu(self.c6(F.relu(self.c5(x))))
        x = F.dropout(torch.amax(x, dim=2), 0.2, self.training)
        x = F.relu(self.d2(F.relu(self.d1(x))))
        return self.out(x)


def build(name, classes):
    if name == 'mfcc':
        return Seed2D(40, 33, 16, 64, classes), (1, 40, 33)
    if name == 'spectrogram':
        return Seed2D(128, 33, 64, 128, classes), (1, 128, 33)
    if name == 'raw':
        return SeedRaw(classes), (1, 16384)
    raise SystemExit(f'unknown model {name}')


def load_features(data_dir, shape):
    """kws's features (channels last) as PyTorch tensors (channels first)."""
    import numpy as np
    def x_of(name):
        a = torch.from_numpy(np.load(f'{data_dir}/{name}.npy').astype('float32'))
        a = a.reshape((a.shape[0],) + tuple(a.shape[1:]))
        if len(shape) == 3:  # [n, rows, frames, 1] -> [n, 1, rows, frames]
            return a.reshape(a.shape[0], shape[1], shape[2], 1).permute(0, 3, 1, 2).contiguous()
        return a.reshape(a.shape[0], 1, shape[1])  # [n, samples, 1] -> [n, 1, samples]
    def y_of(name):
        return torch.from_numpy(np.load(f'{data_dir}/{name}.npy').astype('int64'))
    return x_of('train_x'), y_of('train_y'), x_of('val_x'), y_of('val_y')


def bench(name, clips, batch, epochs, classes, seed, data_dir=None):
    torch.manual_seed(seed)
    model, shape = build(name, classes)
    if data_dir:
        x, y, vx, vy = load_features(data_dir, shape)
        clips = x.shape[0]
    else:
        x = torch.randn((clips,) + shape)
        y = torch.randint(0, classes, (clips,))
        vx, vy = None, None
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    times = []
    accs = []
    for epoch in range(epochs + (0 if data_dir else 1)):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(clips)
        for i in range(0, clips, batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        if vx is not None:
            model.eval()
            with torch.no_grad():
                pred = torch.cat([model(vx[i:i + 128]).argmax(1) for i in range(0, vx.shape[0], 128)])
            accs.append(float((pred == vy).float().mean()))
        times.append(time.perf_counter() - t0)
    timed = times[1:] if len(times) > 1 else times  # the first epoch warms up allocators and kernels
    out = {
        'model': name,
        'secondsPerEpoch': statistics.median(timed),
        'epochTimes': times,
        'params': sum(p.numel() for p in model.parameters()),
    }
    if accs:
        out['valAccuracy'] = accs[-1]
        out['valAccuracies'] = accs
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--clips', type=int, default=1080)
    ap.add_argument('--batch', type=int, default=100)
    ap.add_argument('--epochs', type=int, default=3, help='epochs per model: with --data all of them, the first one a warm-up; without, timed epochs after one more warm-up epoch')
    ap.add_argument('--data', default=None, help='a folder of kws features (train_x.npy, train_y.npy, val_x.npy, val_y.npy) to train on instead of random tensors')
    ap.add_argument('--classes', type=int, default=6)
    ap.add_argument('--models', default='mfcc,spectrogram,raw')
    ap.add_argument('--seed', type=int, default=42)
    ap.add_argument('--json', action='store_true', help='print one JSON object on stdout')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.models.split(','):
        r = bench(name, args.clips, args.batch, args.epochs, args.classes, args.seed, args.data)
        results.append(r)
        if not args.json:
            acc = f", val acc {100 * r['valAccuracy']:.1f} %" if 'valAccuracy' in r else ''
            print(f"{name:12s} {r['secondsPerEpoch']:.3f} s/epoch  ({r['params']} params){acc}", flush=True)
        else:
            print(f"pytorch {name}: {r['secondsPerEpoch']:.3f} s/epoch", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({'torch': torch.__version__, 'threads': torch.get_num_threads(), 'clips': args.clips,
                          'batch': args.batch, 'results': results}))


if __name__ == '__main__':
    main()
