"""Scale on JAX's own engine: data-parallel training of a polymod model with jax.distributed.

Two processes on this machine (gloo CPU collectives, coordinator on 127.0.0.1) form
one mesh of two CPU devices. Each process feeds its half of every batch; the step is
``jax.jit`` over ``pm.native(net).apply`` with the batch sharded along the mesh and
the parameters replicated, so XLA averages the gradients across the processes itself.
Both ranks end with the same weights, equal to one process training on the full batch.

    python docs/examples/jax_distributed_train.py [--steps 20] [--out weights-dir]

(``--rank R --port P`` is how the script starts its own worker processes.)
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile

import numpy as np

import polymod as pm
from polymod import nn
from polymod.examples.datasets import load_digits

BATCH = 64
LR = 0.1


def make_model() -> pm.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def train(net: pm.Module, steps: int, rank: int = 0, world: int = 1) -> None:
    """SGD on every device of the mesh (one per process); this process feeds its share."""
    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    X_all, y_all, _, _ = load_digits()
    model = pm.native(net.to("jax"))
    mesh = jax.make_mesh((world,), ("data",))
    replicated, by_rows = NamedSharding(mesh, P()), NamedSharding(mesh, P("data"))

    def global_array(sharding, local):  # this process's part of an array of the mesh
        return jax.make_array_from_process_local_data(sharding, np.asarray(local))

    def loss_fn(params, X, y):
        log_probs = jax.nn.log_softmax(model.apply(params, X))
        return -jnp.mean(jnp.take_along_axis(log_probs, y[:, None], axis=1))

    @jax.jit
    def step(params, X, y):  # the mean runs over the global batch: XLA adds the all-reduce
        grads = jax.grad(loss_fn)(params, X, y)
        return jax.tree.map(lambda p, g: p - LR * g, params, grads)

    params = {k: global_array(replicated, v) for k, v in model.params.items()}
    share = BATCH // world
    for i in range(steps):
        start = (i * BATCH) % (len(y_all) - BATCH) + rank * share
        X = global_array(by_rows, X_all[start:start + share])
        y = global_array(by_rows, y_all[start:start + share])
        params = step(params, X, y)
    # replicated: this process's copy is the whole value
    model.update({k: v.addressable_data(0) for k, v in params.items()})


def worker(rank: int, world: int, port: int, steps: int, out: str) -> None:
    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=f"127.0.0.1:{port}", num_processes=world,
                               process_id=rank, local_device_ids=[0])
    try:
        pm.seed(0)
        net = make_model()
        train(net, steps, rank, world)
        pm.save(net, os.path.join(out, f"rank{rank}.safetensors"))
    finally:
        jax.distributed.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(steps: int = 20, out: str | None = None, world: int = 2) -> dict[str, dict]:
    """Trains with ``world`` processes and with 1; returns the state dicts by name."""
    out = out or tempfile.mkdtemp(prefix="polymod-jax-dp-")
    port = _free_port()
    workers = [subprocess.Popen([sys.executable, __file__, "--rank", str(rank), "--world",
                                 str(world), "--port", str(port), "--steps", str(steps),
                                 "--out", out]) for rank in range(world)]
    codes = [w.wait(timeout=600) for w in workers]
    if any(codes):
        raise RuntimeError(f"worker exit codes {codes}")
    pm.seed(0)
    single = make_model()
    train(single, steps)
    results = {"single process": single.state_dict()}
    for rank in range(world):
        loaded = make_model()
        pm.load(loaded, os.path.join(out, f"rank{rank}.safetensors"))
        results[f"rank {rank}"] = loaded.state_dict()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    parser.add_argument("--rank", type=int, default=None)
    parser.add_argument("--world", type=int, default=2)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    if args.rank is not None:
        worker(args.rank, args.world, args.port, args.steps, args.out)
        return
    results = run(args.steps, args.out, args.world)
    reference = results["single process"]
    for name, state in results.items():
        worst = max(float(np.abs(state[k] - reference[k]).max()) for k in reference)
        print(f"{name:<15} max |w - single process| = {worst:.2e}")


if __name__ == "__main__":
    main()
