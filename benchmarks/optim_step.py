"""pm.optim's step against each framework's own optimizer, and checkpoint save/load.

    python benchmarks/optim_step.py                      # full run (a few minutes)
    python benchmarks/optim_step.py --quick --json out.json
    python benchmarks/optim_step.py --backends torch --optim-parts steps

Not one of ``bench.py``'s parts (its 10.5M-parameter steps and 1.2 GB checkpoints take
minutes): run it alone. It takes the common options (``harness``).

**Steps.** One thread, alternating rounds, best round kept. For each backend, model and rule, the same parameters (the native twin's
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

import sys
import tempfile
from collections.abc import Callable
from typing import Any

import harness  # first: one thread everywhere
import numpy as np

NAME = "optim"

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


def synced(backend: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn``, and on Gluon a wait for MXNet's engine (it runs operators asynchronously)."""
    if backend == "gluon":
        import mxnet as mx

        return lambda: (fn(), mx.nd.waitall())
    return fn


def steps(ctx: harness.Context) -> list[dict]:
    import polymod as pm

    rows = []
    models = QUICK_MODELS if ctx.quick else MODELS
    for backend in ctx.frameworks:
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
                best = ctx.compare({
                    "polymod": synced(backend, lambda o=opt, g=grads: o.step(g)),
                    "native": synced(backend, native.step)})
                ratio = best["polymod"] / best["native"]
                rows.append({"backend": backend, "model": model, "params": count, "rule": rule,
                             "us_polymod": best["polymod"], "us_native": best["native"],
                             "ratio": ratio, "status": "PASS" if ratio <= TARGET else "OVER"})
                ctx.log(f"{backend:<6} {model:<12} {rule:<13} polymod {best['polymod']:>10.1f} µs"
                        f"  own {best['native']:>10.1f} µs  ratio {ratio:5.2f}")
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


def checkpoints(ctx: harness.Context) -> list[dict]:
    width, depth = (256, 2) if ctx.quick else (4096, 6)
    rows = []
    for backend in ctx.frameworks:
        with tempfile.TemporaryDirectory() as folder:
            row = harness.run_script(CHECKPOINT_SCRIPT, backend, width, depth, folder,
                                     timeout=1800)
        row["backend"] = backend
        rows.append(row)
        if "error" in row:
            ctx.log(f"checkpoint {backend}: failed: {row['error']}")
            continue
        ctx.log(f"checkpoint {backend:<6} {row['params'] / 1e6:.1f}M params + Adam state, "
                f"{row['file_mb']:.0f} MB: save {row['save_seconds']:.2f} s (peak +"
                f"{row['save_peak_extra_mb']:.0f} MB), load {row['load_seconds']:.2f} s (peak +"
                f"{row['load_peak_extra_mb']:.0f} MB)")
    return rows


def add_arguments(parser: Any) -> None:
    parser.add_argument("--optim-parts", default="steps,checkpoint",
                        help="what to run: steps, checkpoint or both (default)")


def run(ctx: harness.Context) -> dict:
    wanted = set(ctx.args.optim_parts.split(","))
    result: dict[str, Any] = {"optim_target_ratio": TARGET}
    if "steps" in wanted:
        result["optim_steps"] = steps(ctx)
    if "checkpoint" in wanted:
        result["optim_checkpoint"] = checkpoints(ctx)
    return result


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
