"""Scale on Keras: tf.distribute.MultiWorkerMirroredStrategy over pm.native(net).

Two worker processes on this machine (loopback only, one ``TF_CONFIG`` each) train the
same polymod model with a custom training loop: each computes the gradients of its
half of every batch on the Keras twin, the strategy sums them across the workers, and
a Keras optimizer applies them to the mirrored variables. Both workers end with the
same weights, equal to one process training on the full batch.

Keras ``model.fit`` under this strategy fails upstream (keras-team/keras#20585), so
the loop is written out: ``strategy.run`` of a ``tf.GradientTape`` step.

    python docs/examples/keras_multiworker_train.py [--steps 20] [--out weights-dir]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import polymod as pm  # noqa: E402
from polymod import nn  # noqa: E402
from polymod.examples.datasets import load_digits  # noqa: E402

BATCH = 64  # the global batch; each of the two workers takes half of it
LR = 0.1


def make_model() -> pm.Module:
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


def batch(step: int, rank: int = 0, world: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The ``rank``-th of ``world`` equal shares of the global batch of ``step``."""
    X_all, y_all, _, _ = load_digits()
    share = BATCH // world
    start = (step * BATCH) % (len(y_all) - BATCH) + rank * share
    return X_all[start:start + share], y_all[start:start + share]


def train(steps: int, rank: int = 0, world: int = 1) -> pm.Module:
    """A custom loop on pm.native(net) under ``strategy`` (MultiWorkerMirroredStrategy
    when world > 1, else TensorFlow's default strategy: one process, full batch)."""
    import keras
    import tensorflow as tf

    strategy = (tf.distribute.MultiWorkerMirroredStrategy() if world > 1
                else tf.distribute.get_strategy())
    with strategy.scope():  # variables made here are mirrored across the workers
        pm.seed(0)
        net = make_model().to("keras")
        model = pm.native(net)
        optimizer = keras.optimizers.SGD(learning_rate=LR)

    @tf.function
    def step_fn(X: tf.Tensor, y: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(X))
            # the mean over the global batch: each worker's share sums to it
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)  # summed over the workers

    for step in range(steps):
        X, y = batch(step, rank, world)
        strategy.run(step_fn, args=(tf.constant(X), tf.constant(y)))
    return net


def _worker(rank: int, ports: list[int], steps: int, out: str) -> None:
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
        "task": {"type": "worker", "index": rank}})
    net = train(steps, rank, world=len(ports))
    pm.save(net, os.path.join(out, f"worker{rank}.safetensors"))


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(steps: int = 20, out: str | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Trains with 2 worker processes and with 1 process; returns the three state dicts."""
    out = out or tempfile.mkdtemp(prefix="polymod-keras-multiworker-")
    os.makedirs(out, exist_ok=True)
    ports = _free_ports(2)
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", str(rank), "--ports",
                                 ",".join(map(str, ports)), "--steps", str(steps),
                                 "--out", out], env=env) for rank in range(2)]
    try:
        codes = [w.wait(timeout=600) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    if any(codes):
        raise RuntimeError(f"the workers exited with {codes}")
    results = {"single process": train(steps).state_dict()}
    for rank in range(2):
        loaded = make_model()
        pm.load(loaded, os.path.join(out, f"worker{rank}.safetensors"))
        results[f"worker {rank}"] = loaded.state_dict()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out", default=None)
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        _worker(args.worker, [int(p) for p in args.ports.split(",")], args.steps, args.out)
        return
    results = run(args.steps, args.out)
    reference = results["single process"]
    for name, state in results.items():
        worst = max(float(np.abs(state[k] - reference[k]).max()) for k in reference)
        print(f"{name:<15} max |w - single process| = {worst:.2e}")


if __name__ == "__main__":
    main()
