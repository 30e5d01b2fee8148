"""Train one model definition on the digits data, on every backend, two ways.

1. With polymod's own loop, once per backend: ``pm.value_and_grad``, AdamW with a
   cosine learning-rate schedule and gradient clipping, a checkpoint after every epoch.
   Each run is interrupted halfway and resumed from its checkpoint by fresh objects,
   and ends as an uninterrupted run would (bit for bit).
2. With each framework's own tools through ``pm.native(net)``: a ``torch.optim``
   loop, Keras ``model.fit``, and a ``gluon.Trainer`` loop (SGD with momentum).

Prints a progress bar while training and, at the end, a table of test accuracy.

    python docs/examples/train_digits.py [--epochs 30] [--backends torch,keras,gluon]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator

import numpy as np

import polymod as pm
from polymod import nn, ops
from polymod.examples.datasets import load_digits

X_TRAIN, Y_TRAIN, X_TEST, Y_TEST = load_digits()


def make_model() -> pm.Module:
    """The model every run trains: the chapter's MLP shape, for 64 pixels and 10 digits."""
    return nn.Sequential(nn.LazyLinear(128), nn.ReLU(), nn.LazyLinear(10))


def batches(n: int, batch_size: int, epoch: int) -> Iterator[np.ndarray]:
    order = np.random.Generator(np.random.PCG64(epoch)).permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def progress(label: str, done: int, total: int, loss: float) -> None:
    width = 30
    filled = int(width * done / total)
    bar = "#" * filled + "." * (width - filled)
    end = "\n" if done == total else ""
    print(f"\r{label:<16} [{bar}] {done}/{total} epochs  loss {loss:.4f}", end=end,
          file=sys.stderr, flush=True)


def accuracy(net: pm.Module, backend: str) -> float:
    with pm.no_grad():
        logits = pm.to_numpy(net(pm.asarray(X_TEST, backend=backend)))
    return float((logits.argmax(axis=1) == Y_TEST).mean())


def fit_polymod(backend: str, epochs: int, lr: float, batch_size: int,
                checkpoint: str | None = None, stop_after: int | None = None) -> pm.Module:
    """polymod's own loop, the same code on every backend: AdamW, a cosine schedule over
    all steps, gradients clipped to norm 1. With ``checkpoint``, it saves one after every
    epoch and starts from it when the file exists; ``stop_after`` ends the run after
    that many epochs (an interruption)."""
    pm.seed(0)
    net = make_model()
    opt = pm.optim.AdamW(net, lr=lr, weight_decay=1e-2)
    steps_per_epoch = math.ceil(len(Y_TRAIN) / batch_size)
    sched = pm.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    first = 0
    if checkpoint and os.path.exists(checkpoint):  # resume: weights, optimizer, schedule, RNG
        first = pm.load_checkpoint(checkpoint, net, opt, sched)
    step = pm.value_and_grad(lambda m, X, y: ops.cross_entropy(m(X), y))
    for epoch in range(first, epochs if stop_after is None else stop_after):
        for idx in batches(len(Y_TRAIN), batch_size, epoch):
            X = pm.asarray(X_TRAIN[idx], backend=backend)
            y = pm.asarray(Y_TRAIN[idx], backend=backend)
            loss, grads = step(net, X, y)
            grads, _ = pm.optim.clip_grad_norm(grads, max_norm=1.0)
            opt.step(grads)
            sched.step()
        if checkpoint:
            pm.save_checkpoint(checkpoint, net, opt, sched, step=epoch + 1)
        progress(f"polymod/{backend}", epoch + 1, epochs, float(pm.to_numpy(loss)))
    return net


def train_polymod(backend: str, epochs: int, lr: float, batch_size: int) -> float:
    """polymod's loop, interrupted halfway and resumed from its checkpoint."""
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = os.path.join(folder, f"digits-{backend}.safetensors")
        fit_polymod(backend, epochs, lr, batch_size, checkpoint, stop_after=epochs // 2)
        net = fit_polymod(backend, epochs, lr, batch_size, checkpoint)  # fresh objects
    return accuracy(net, backend)


def train_torch_native(epochs: int, lr: float, batch_size: int) -> float:
    """A plain torch.optim loop on pm.native(net)."""
    import torch

    pm.seed(0)
    net = make_model()
    net.initialize(pm.asarray(X_TRAIN[:1], backend="torch"))
    model = pm.native(net)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for epoch in range(epochs):
        for idx in batches(len(Y_TRAIN), batch_size, epoch):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(X_TRAIN[idx])),
                                                     torch.from_numpy(Y_TRAIN[idx]))
            loss.backward()
            opt.step()
        progress("torch.optim", epoch + 1, epochs, loss.item())
    return accuracy(net, "torch")


def train_keras_native(epochs: int, lr: float, batch_size: int) -> float:
    """Keras compile/fit on pm.native(net)."""
    import keras

    pm.seed(0)
    net = make_model()
    net.initialize(pm.asarray(X_TRAIN[:1], backend="keras"))
    model = pm.native(net)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))

    class Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            progress("keras fit", epoch + 1, epochs, (logs or {}).get("loss", float("nan")))

    model.fit(X_TRAIN, Y_TRAIN, batch_size=batch_size, epochs=epochs, verbose=0,
              shuffle=True, callbacks=[Progress()])
    return accuracy(net, "keras")


def train_gluon_native(epochs: int, lr: float, batch_size: int) -> float:
    """A gluon.Trainer loop on pm.native(net)."""
    from mxnet import autograd, gluon
    from mxnet import np as mnp

    pm.seed(0)
    net = make_model()
    net.initialize(pm.asarray(X_TRAIN[:1], backend="gluon"))
    block = pm.native(net)
    trainer = gluon.Trainer(block.collect_params(), "sgd",
                            {"learning_rate": lr, "momentum": 0.9})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    for epoch in range(epochs):
        for idx in batches(len(Y_TRAIN), batch_size, epoch):
            X, y = mnp.array(X_TRAIN[idx]), mnp.array(Y_TRAIN[idx])
            with autograd.record():
                loss = loss_fn(block(X), y).mean()
            loss.backward()
            trainer.step(1)  # the loss is already a mean
        progress("gluon.Trainer", epoch + 1, epochs, float(loss.item()))
    return accuracy(net, "gluon")


NATIVE = {"torch": train_torch_native, "keras": train_keras_native,
          "gluon": train_gluon_native}


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.05, help="SGD's, for the native tools")
    parser.add_argument("--adamw-lr", type=float, default=0.01, help="polymod loop's AdamW")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--backends", default=",".join(
        b for b in pm.available_backends() if b != "numpy"))
    args = parser.parse_args(argv)
    results = {}
    for backend in [b for b in args.backends.split(",") if b]:
        start = time.perf_counter()
        results[f"polymod loop on {backend}"] = (
            train_polymod(backend, args.epochs, args.adamw_lr, args.batch_size),
            time.perf_counter() - start)
        start = time.perf_counter()
        results[f"{backend}'s own tools"] = (
            NATIVE[backend](args.epochs, args.lr, args.batch_size), time.perf_counter() - start)
    print(f"\n{'run':<28} {'test accuracy':>13} {'seconds':>8}")
    for name, (acc, seconds) in results.items():
        print(f"{name:<28} {acc:>13.2%} {seconds:>8.1f}")
    return {name: acc for name, (acc, _) in results.items()}


if __name__ == "__main__":
    main()
