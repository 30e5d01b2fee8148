"""The peer: Keras 3 with ``KERAS_BACKEND=torch`` on the chapter's MLP, against torch.

    python benchmarks/peers.py --quick

Keras 3 runs one model on several frameworks, as polymod does; this measures what
that costs it on torch: its ``Sequential`` of two ``Dense`` layers against
``torch.nn.Sequential`` and the bare ops (``F.linear``/``torch.relu``) with the same
weights, forward and forward + backward at batch 2 and 1024. It runs in a subprocess
(Keras reads its backend once, and this process runs Keras on TensorFlow), which
times its candidates the way harness.compare does, with the garbage collector on.
It needs torch and Keras installed, whatever ``--backends`` selects.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import harness  # first: one thread everywhere

NAME = "keras-torch"

KERAS_TORCH_SCRIPT = r"""
import json, os, sys, time
os.environ["KERAS_BACKEND"] = "torch"
import numpy as np
import torch
torch.set_num_threads(1)
import torch.nn.functional as F
import keras
rounds, target = int(sys.argv[1]), float(sys.argv[2])
rng = np.random.default_rng(0)
w1, b1 = rng.standard_normal((256, 20), dtype=np.float32) * .1, np.zeros(256, np.float32)
w2, b2 = rng.standard_normal((10, 256), dtype=np.float32) * .1, np.zeros(10, np.float32)
kmodel = keras.Sequential([keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
kmodel(torch.zeros(2, 20))
kmodel.set_weights([w1.T, b1, w2.T, b2])
tmodel = torch.nn.Sequential(torch.nn.Linear(20, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
tw = [torch.tensor(a, requires_grad=True) for a in (w1, b1, w2, b2)]
def ops(X):
    return F.linear(torch.relu(F.linear(X, tw[0], tw[1])), tw[2], tw[3])
def timed(fn, n):
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n
out = []
for mode in ("fwd", "fwd+bwd"):
    for batch in (2, 1024):
        X = torch.from_numpy(rng.random((batch, 20), dtype=np.float32))
        fns = {"keras": kmodel, "native": tmodel, "ops": ops}
        if mode == "fwd":
            cands = {k: (lambda f=f: f(X)) for k, f in fns.items()}
        else:
            cands = {k: (lambda f=f: f(X).sum().backward()) for k, f in fns.items()}
        calls = {}
        for k, f in cands.items():
            for _ in range(3):
                f()
            calls[k] = max(3, min(20000, int(target / max(timed(f, 3), 1e-7))))
        best = {k: float("inf") for k in cands}
        for _ in range(rounds):
            for k, f in cands.items():
                best[k] = min(best[k], timed(f, calls[k]))
        us = {k: v * 1e6 for k, v in best.items()}
        out.append({"model": "sequential_mlp", "mode": f"{mode} b{batch}",
                    "us_keras_on_torch": round(us["keras"], 2),
                    "us_torch_native": round(us["native"], 2), "us_torch_ops": round(us["ops"], 2),
                    "ratio": round(us["keras"] / min(us["native"], us["ops"]), 3)})
print(json.dumps({"keras_version": keras.__version__, "rows": out}))
"""


def keras_on_torch(rounds: int, target_s: float) -> dict[str, Any]:
    """The subprocess's rows, or ``{"error": ...}``."""
    return harness.run_script(KERAS_TORCH_SCRIPT, rounds, target_s,
                              env=dict(os.environ, KERAS_BACKEND="torch"))


def run(ctx: harness.Context) -> dict[str, Any]:
    if not {"torch", "keras"} <= ctx.installed:
        return {}
    ctx.log("\nKeras 3 with KERAS_BACKEND=torch (subprocess), sequential_mlp:")
    result = keras_on_torch(ctx.rounds, ctx.target_s)
    for r in result.get("rows", []):
        ctx.log(f"  {r['mode']:<14} keras-on-torch {r['us_keras_on_torch']:>9.1f} µs   torch "
                f"nn {r['us_torch_native']:>8.1f} µs   ops {r['us_torch_ops']:>8.1f} µs   "
                f"ratio {r['ratio']:.2f}")
    if "error" in result:
        ctx.log(f"  failed: {result['error']}")
    return {"keras_on_torch": result}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
