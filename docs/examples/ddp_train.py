"""Scale on the framework's own engine: PyTorch DistributedDataParallel over pm.native(net).

Two processes (gloo, 127.0.0.1) each train the same polymod model on half of
every batch; DDP averages the gradients, so both ranks end with the same
weights, equal to one process training on the full batch.

    python docs/examples/ddp_train.py [--steps 20] [--out weights-dir]
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile

import numpy as np

import polymod as pm
from polymod import nn
from polymod.examples.datasets import load_digits

BATCH = 64


def make_model() -> pm.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def train(net: pm.Module, steps: int, rank: int = 0, world: int = 1) -> None:
    """SGD on pm.native(net); with world > 1 the model is wrapped in DDP first."""
    import torch

    X_all, y_all, _, _ = load_digits()
    model = pm.native(net.to("torch"))
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    share = BATCH // world
    for step in range(steps):
        start = (step * BATCH) % (len(y_all) - BATCH) + rank * share
        X = torch.from_numpy(X_all[start:start + share])
        y = torch.from_numpy(y_all[start:start + share])
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
        opt.step()


def _worker(rank: int, world: int, port: int, steps: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        pm.seed(0)
        net = make_model()
        train(net, steps, rank, world)
        pm.save(net, os.path.join(out, f"rank{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(steps: int = 20, out: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Trains with 2 DDP processes and with 1 process; returns the three state dicts."""
    import torch.multiprocessing as mp

    out = out or tempfile.mkdtemp(prefix="polymod-ddp-")
    mp.spawn(_worker, args=(2, _free_port(), steps, out), nprocs=2, join=True)
    pm.seed(0)
    single = make_model()
    train(single, steps)
    results = {"single process": single.state_dict()}
    for rank in range(2):
        loaded = make_model()
        pm.load(loaded, os.path.join(out, f"rank{rank}.safetensors"))
        results[f"rank {rank}"] = loaded.state_dict()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results = run(args.steps, args.out)
    reference = results["single process"]
    for name, state in results.items():
        worst = max(float(np.abs(state[k] - reference[k]).max()) for k in reference)
        print(f"{name:<15} max |w - single process| = {worst:.2e}")


if __name__ == "__main__":
    main()
