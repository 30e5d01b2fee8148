"""Graph modes on the native twins: ``torch.compile``, ``tf.function``, ``hybridize``.

    python benchmarks/graph_modes.py --quick --backends keras

The chapter's ``Sequential`` MLP, forward at batch 2 and 1024:
``torch.compile(pm.native(net))`` vs ``torch.compile`` of the torch module (not with
``--quick``: compiling takes a minute); ``tf.function`` on the Keras twin vs on the
Keras model (and on the bare ops); Gluon ``hybridize()`` of the native model, while
polymod's twin reports "n/a: cannot hybridize" (MXNet 1.9 compiles only
``hybrid_forward(F, ...)`` code).
"""

from __future__ import annotations

import sys
from typing import Any

import harness  # first: one thread everywhere
import numpy as np
from chapter_mlp import Suite
from native_chapter import IN_FEATURES

NAME = "graph"


def graph_modes(ctx: harness.Context, with_compile: bool) -> list[dict]:
    import polymod as pm

    frameworks = ctx.frameworks
    rows = []
    rng = np.random.default_rng(1)
    Xnp = {b: rng.random((b, IN_FEATURES), dtype=np.float32) for b in (2, 1024)}

    def add(fw, mode, batch, native_us, polymod_us, note=""):
        rows.append({"backend": fw, "mode": mode, "batch": batch,
                     "us_native": None if native_us is None else round(native_us, 2),
                     "us_polymod_twin": None if polymod_us is None else round(polymod_us, 2),
                     "ratio": None if native_us is None or polymod_us is None
                     else round(polymod_us / native_us, 3), "note": note})

    if "torch" in frameworks and with_compile:
        import torch

        suite = Suite("torch", "sequential_mlp")
        try:
            c_native = torch.compile(suite.native)
            c_twin = torch.compile(pm.native(suite.net))
            for batch in (2, 1024):
                X = torch.from_numpy(Xnp[batch])
                with torch.no_grad():
                    t = ctx.compare({"native": lambda X=X: c_native(X),
                                     "twin": lambda X=X: c_twin(X)})
                add("torch", "torch.compile fwd (no_grad)", batch, t["native"], t["twin"])
        except Exception as err:  # noqa: BLE001 -- report, do not crash the benchmark
            add("torch", "torch.compile fwd (no_grad)", 2, None, None,
                f"failed: {type(err).__name__}: {err}"[:200])
    if "keras" in frameworks:
        import tensorflow as tf

        suite = Suite("keras", "sequential_mlp")
        twin = pm.native(suite.net)
        f_native = tf.function(lambda X: suite.native(X))
        f_twin = tf.function(lambda X: twin(X))
        f_ops = tf.function(suite.ops)
        for batch in (2, 1024):
            X = tf.convert_to_tensor(Xnp[batch])
            t = ctx.compare({"native": lambda X=X: f_native(X), "twin": lambda X=X: f_twin(X),
                             "ops": lambda X=X: f_ops(X)})
            add("keras", "tf.function fwd", batch, t["native"], t["twin"],
                f"tf.function on bare ops: {t['ops']:.1f} µs")
    if "gluon" in frameworks:
        from mxnet import np as mnp

        suite = Suite("gluon", "sequential_mlp")
        suite.native.hybridize()
        try:
            pm.native(suite.net).hybridize()
            note = "polymod twin hybridized"
        except pm.PolymodError as err:
            note = f"n/a: cannot hybridize ({type(err).__name__})"
        for batch in (2, 1024):
            X = mnp.array(Xnp[batch])
            t = ctx.compare({"native": lambda X=X: suite.native(X).wait_to_read()})
            add("gluon", "hybridize fwd", batch, t["native"], None, note)
    return rows


def run(ctx: harness.Context) -> dict[str, Any]:
    if not ctx.frameworks:
        return {}
    ctx.log("\ngraph modes on native twins (forward):")
    rows = graph_modes(ctx, with_compile=not ctx.quick)
    for r in rows:
        ctx.log(f"  {r}")
    return {"graph_modes": rows}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
