"""A training process for tests/test_checkpoint.py: trains, checkpoints every few steps,
optionally resumes from the checkpoint, and saves the final weights.

    python tests/checkpoint_worker.py DIR --steps 12 --every 2 [--resume] [--width 512]

Data and dropout masks come from polymod's random generator, so a resumed run matches
the uninterrupted one only if the checkpoint restores the generator too.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")

import polymod as pm  # noqa: E402
from polymod import nn, ops  # noqa: E402


def make_model(width: int) -> pm.Module:
    return nn.Sequential(nn.LazyLinear(width), nn.ReLU(), nn.Dropout(0.1),
                         nn.LazyLinear(width), nn.ReLU(), nn.LazyLinear(4))


def make_training(net: pm.Module, steps: int) -> tuple:
    opt = pm.optim.AdamW(net, lr=1e-3, weight_decay=0.05)
    return opt, pm.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)


def train(net, opt, sched, start: int, steps: int, backend: str, every: int = 0,
          path: str | None = None) -> None:
    step = pm.value_and_grad(lambda m, X, y: ops.mean((m(X) - y) ** 2))
    for i in range(start, steps):
        X, y = pm.rand(8, 16, backend=backend), pm.rand(8, 4, backend=backend)
        _, grads = step(net, X, y)
        grads, _ = pm.optim.clip_grad_norm(grads, 1.0)
        opt.step(grads)
        sched.step()
        if every and (i + 1) % every == 0 and i + 1 < steps:
            pm.save_checkpoint(path, net, opt, sched, step=i + 1)
            print(f"checkpoint {i + 1}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--every", type=int, default=2)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args(argv)
    if args.backend == "torch":
        import torch

        torch.set_num_threads(1)
    path = os.path.join(args.dir, "ckpt.safetensors")
    pm.seed(0)
    net = make_model(args.width)
    opt, sched = make_training(net, args.steps)
    start = pm.load_checkpoint(path, net, opt, sched) if args.resume else 0
    print(f"start {start}", flush=True)
    train(net, opt, sched, start, args.steps, args.backend, args.every, path)
    pm.save(net, os.path.join(args.dir, "final.safetensors"))
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
