"""pm.optim's step against each framework's own optimizer, and checkpoint save/load.

Run from the repository root (polymod installed, e.g. ``pip install -e .[all]``)::

    python benchmarks/optim_step.py                      # full run (a few minutes)
    python benchmarks/optim_step.py --quick --json out.json
    python benchmarks/optim_step.py --backends torch --skip checkpoint

**Steps.** One thread, in one process, alternating rounds, best round kept (as
``bench.py``). For each backend, model and rule, the same parameters (the native twin's
storage) and the same gradients are stepped by polymod and by the framework's own
optimizer: ``torch.optim`` (its default, the single-tensor loop on CPU), Keras
``optimizer.apply(grads, variables)`` (eager), ``gluon.Trainer.step`` (MXNet's fused
update kernels). polymod's time includes its checks of every gradient. Models: the
chapter's MLP (20-256-10, 7,946 parameters) and an MLP of 10.5M parameters
(1024-2048-2048-2048-10). Ratio = polymod / framework; the target is <= 1.10.
Gluon has no AdamW; its RMSprop puts eps inside the root (timed anyway: same work).

**Checkpoints.** A subprocess per backend builds a 100.7M-parameter model
(6 x Linear(4096, 4096)), takes one Adam step (so the state exists: 3 x 403 MB), then
times ``pm.save_checkpoint`` and ``pm.load_checkpoint`` (into a fresh model and
optimizer) and reports the peak extra memory of each (``VmHWM``, reset through
``/proc/self/clear_refs``) over the checkpoint's size.

Nothing here is asserted; ``tests/test_benchmark_optim.py`` only checks that
``--quick`` runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MXNET_CPU_WORKER_NTHREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

MODELS = {"chapter MLP": [20, 256, 10], "MLP 10.5M": [1024, 2048, 2048, 2048, 10]}
QUICK_MODELS = {"chapter MLP": [20, 256, 10]}
LR = 1e-6  # tiny: thousands of steps must not move the weights far
RULES = {  # name: (pm.optim call, framework optimizer keyword arguments)
    "SGD": ("SGD", {}),
    "SGD momentum": ("SGD", {"momentum": 0.9}),
    "Adam": ("Adam", {}),
    "AdamW": ("AdamW", {}),
    "RMSprop": ("RMSprop", {}),
}
TARGET = 1.10


def _time_calls(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def compare(candidates: dict[str, Callable[[], Any]], rounds: int, target_s: float,
            sync: Callable[[], Any]) -> dict[str, float]:
    """Best (min) µs per call of each candidate over alternating rounds."""
    calls = {}
    for name, fn in candidates.items():
        for _ in range(3):
            fn()
        sync()
        one = _time_calls(lambda f=fn: (f(), sync()), 2)
        calls[name] = int(min(2000, max(2, target_s / max(one, 1e-7))))
    best = {name: float("inf") for name in candidates}
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                start = time.perf_counter()
                for _ in range(calls[name]):
                    fn()
                sync()
                best[name] = min(best[name], (time.perf_counter() - start) / calls[name])
    finally:
        gc.enable()
    return {name: t * 1e6 for name, t in best.items()}


def load(backend: str) -> Any:
    import polymod as pm

    if backend in ("torch", "keras"):
        import torch

        torch.set_num_threads(1)
    if backend == "keras":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm.registry.adapter(backend)


def mlp(sizes: list[int]) -> Any:
    import polymod as pm
    from polymod import nn

    layers: list = []
    for a, b in zip(sizes, sizes[1:], strict=False):
        layers += [nn.Linear(a, b), nn.ReLU()]
    net = nn.Sequential(*layers[:-1])
    pm.seed(0)
    for _, p in net.named_parameters():  # one fast fill instead of the per-element init
        p.assign(np.full(p.shape, 0.01, np.float32))
    return net


class Native:
    """The framework's own optimizer over the twin's parameters, the same gradients."""

    def __init__(self, backend: str, net: Any, grads: dict[str, Any], rule: str):
        import polymod as pm

        self.backend, kind, kwargs = backend, *RULES[rule]
        twin = pm.native(net)
        if backend == "torch":
            import torch

            params = dict(twin.named_parameters())
            for name, g in grads.items():
                params[name].grad = g
            self.optimizer = getattr(torch.optim, kind)(params.values(), lr=LR, **kwargs)
            self.step = self.optimizer.step
        elif backend == "keras":
            import keras

            names = {kind: kind for kind in ("SGD", "Adam", "AdamW", "RMSprop")}
            self.optimizer = getattr(keras.optimizers, names[kind])(learning_rate=LR, **kwargs)
            variables = twin.trainable_variables
            order = [n for n, _ in net.named_parameters()]
            values = [grads[n] for n in order]
            self.optimizer.build(variables)
            self.step = lambda: self.optimizer.apply(values, variables)
        else:
            from mxnet import gluon

            if kind == "AdamW":
                raise LookupError("MXNet 1.9's gluon.Trainer has no AdamW")
            params = twin.collect_params()
            for name, p in params.items():
                p.grad()[:] = grads[name]
            self.arrays = [p.data() for p in params.values()]
            optimizer = {"SGD": "sgd", "Adam": "adam", "RMSprop": "rmsprop"}[kind]
            trainer = gluon.Trainer(params, optimizer, {"learning_rate": LR, **kwargs})

            def step() -> None:
                for a in self.arrays:  # the gradients count as new (as after backward)
                    a._fresh_grad = True
                trainer.step(1)

            self.step = step


def sync_for(backend: str) -> Callable[[], Any]:
    if backend == "gluon":
        import mxnet as mx

        return mx.nd.waitall
    return lambda: None


def steps(backends: list[str], models: dict[str, list[int]], rounds: int,
          target_s: float) -> list[dict]:
    import polymod as pm

    rows = []
    for backend in backends:
        load(backend)
        for model, sizes in models.items():
            net = mlp(sizes).to(backend)
            rng = np.random.default_rng(0)
            grads = {n: pm.asarray(rng.standard_normal(p.shape).astype(np.float32) * 1e-3,
                                   backend=backend) for n, p in net.named_parameters()}
            count = sum(p.size for _, p in net.named_parameters())
            for rule, (kind, kwargs) in RULES.items():
                try:
                    native = Native(backend, net, grads, rule)
                except LookupError as err:
                    rows.append({"backend": backend, "model": model, "params": count,
                                 "rule": rule, "status": f"n/a: {err}"})
                    continue
                opt = getattr(pm.optim, kind)(net, lr=LR, **kwargs)
                best = compare({"polymod": lambda o=opt, g=grads: o.step(g), "native": native.step},
                               rounds, target_s, sync_for(backend))
                ratio = best["polymod"] / best["native"]
                rows.append({"backend": backend, "model": model, "params": count, "rule": rule,
                             "us_polymod": best["polymod"], "us_native": best["native"],
                             "ratio": ratio, "status": "PASS" if ratio <= TARGET else "OVER"})
                print(f"{backend:<6} {model:<12} {rule:<13} polymod {best['polymod']:>10.1f} us"
                      f"  own {best['native']:>10.1f} us  ratio {ratio:5.2f}", flush=True)
    return rows


CHECKPOINT_SCRIPT = r"""
import json, os, sys, time
import numpy as np
backend, width, depth, folder = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if backend in ("torch", "keras"):
    import torch
import polymod as pm
from polymod import nn

def status():
    with open("/proc/self/status") as f:
        return {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f
                if l.startswith(("VmRSS", "VmHWM"))}

def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False

def model():
    net = nn.Sequential(*[nn.Linear(width, width) for _ in range(depth)])
    for _, p in net.named_parameters():
        p.assign(np.full(p.shape, 0.01, np.float32))
    return net.to(backend)

net = model()
opt = pm.optim.Adam(net, lr=1e-6)
opt.step({n: pm.asarray(np.full(p.shape, 1e-3, np.float32), backend=backend)
          for n, p in net.named_parameters()})
path = os.path.join(folder, "ckpt.safetensors")
result = {"backend": backend, "params": sum(p.size for _, p in net.named_parameters())}
for how in ("save", "load"):
    if how == "load":
        del net, opt
        import gc; gc.collect()
        net = model()
        opt = pm.optim.Adam(net, lr=1e-6)
    before = status()["VmRSS"]
    peak_ok = reset_peak()
    start = time.perf_counter()
    if how == "save":
        pm.save_checkpoint(path, net, opt, step=1)
    else:
        pm.load_checkpoint(path, net, opt)
    seconds = time.perf_counter() - start
    size = os.path.getsize(path)
    after = status()
    result[f"{how}_seconds"] = seconds
    result[f"{how}_peak_extra_mb"] = (after["VmHWM"] - before) / 2**20 if peak_ok else None
    result[f"{how}_peak_extra_over_file"] = (after["VmHWM"] - before) / size if peak_ok else None
result["file_mb"] = size / 2**20
print(json.dumps(result))
"""


def checkpoints(backends: list[str], width: int, depth: int) -> list[dict]:
    rows = []
    for backend in backends:
        with tempfile.TemporaryDirectory() as folder:
            proc = subprocess.run([sys.executable, "-c", CHECKPOINT_SCRIPT, backend, str(width),
                                   str(depth), folder], capture_output=True, text=True,
                                  timeout=1800)
        if proc.returncode != 0:
            rows.append({"backend": backend, "error": proc.stderr[-2000:]})
            print(f"checkpoint {backend}: failed\n{proc.stderr[-2000:]}", flush=True)
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"checkpoint {backend:<6} {row['params'] / 1e6:.1f}M params + Adam state, "
              f"{row['file_mb']:.0f} MB: save {row['save_seconds']:.2f} s (peak +"
              f"{row['save_peak_extra_mb']:.0f} MB), load {row['load_seconds']:.2f} s (peak +"
              f"{row['load_peak_extra_mb']:.0f} MB)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="torch,keras,gluon")
    parser.add_argument("--quick", action="store_true", help="tiny models, one round")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--skip", default="", help="comma-separated: steps, checkpoint")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args(argv)
    import polymod as pm

    backends = [b for b in args.backends.split(",") if b in pm.available_backends()]
    skip = set(args.skip.split(","))
    results: dict[str, Any] = {"target_ratio": TARGET}
    if "steps" not in skip:
        results["steps"] = steps(backends, QUICK_MODELS if args.quick else MODELS,
                                 1 if args.quick else args.rounds,
                                 0.002 if args.quick else 0.2)
    if "checkpoint" not in skip:
        width, depth = (256, 2) if args.quick else (4096, 6)
        results["checkpoint"] = checkpoints(backends, width, depth)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
