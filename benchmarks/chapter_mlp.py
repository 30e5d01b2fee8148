"""The chapter's MLPs: polymod vs the native modules and the bare ops, with budgets.

    python benchmarks/chapter_mlp.py --quick --backends torch --models MLP

For each framework and model (``sequential_mlp``, ``MLP``, ``chimera``; see
native_chapter.py) it times, in alternating rounds and keeping the best:

* ``native``: the chapter's hand-written modules of that framework;
* ``ops``: the framework's bare functional ops (``F.linear``/``torch.relu``,
  ``tf.matmul(transpose_b=True)`` + ``tf.nn.bias_add``/``tf.nn.relu``,
  ``npx.fully_connected``/``npx.relu``);
* ``polymod``: the same model from ``polymod.examples.chapter``, with the same weights
  (checked: the three compute the same numbers before timing), called directly and,
  for forward + backward, again through ``pm.value_and_grad``.

The ratio is polymod / min(native, ops); for Gluon only the ops count (its fused relu
turns NaN into 0, which polymod must not do; see docs/design.md). Budgets: forward at
batch 2 <= 1.15, forward+backward at batch 2 <= 1.10, batch 1024 <= 1.05.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import harness  # first: one thread everywhere
import native_chapter
import numpy as np
from native_chapter import IN_FEATURES

NAME = "mlp"
BUDGET = {"fwd b2": 1.15, "fwd+bwd b2": 1.10, "fwd b1024": 1.05, "fwd+bwd b1024": 1.05}
MODELS = ("sequential_mlp", "MLP", "chimera")
BATCHES = (2, 1024)


def polymod_model(name: str, backend: str, seed: int = 0) -> Any:
    """The chapter model ``name`` from ``polymod.examples.chapter``, bound to ``backend``."""
    from polymod.examples import chapter

    build = {"sequential_mlp": chapter.sequential_mlp, "MLP": chapter.MLP,
             "chimera": chapter.chimera}[name]
    return harness.polymod_model(build, (IN_FEATURES,), backend, seed)


def _layers(name: str, sd: dict[str, np.ndarray]) -> tuple[list, np.ndarray | None]:
    """The model's (weight, bias) pairs in call order, and the chimera's constant."""
    if name == "sequential_mlp":
        keys = ["0", "2"]
    elif name == "MLP":
        keys = ["hidden", "out"]
    else:
        keys = ["0.net.0", "0.net.2", "0.linear", "1", "2.linear"]
    pairs = [(sd[f"{k}.weight"], sd[f"{k}.bias"]) for k in keys]
    return pairs, sd.get("2.rand_weight")


class Suite:
    """The three candidates of one model on one framework (same weights, same numbers)."""

    def __init__(self, framework: str, name: str):
        self.framework, self.name = framework, name
        self.net = polymod_model(name, framework)
        pairs, rand_weight = _layers(name, self.net.state_dict())
        built = native_chapter.BUILDERS[framework](name, pairs, rand_weight)
        self.native, self.ops = built.module, built.ops
        self.ops_params, self.native_params = built.ops_params, built.native_params
        self.to_input = harness.to_input(framework)
        X = self.to_input(np.random.default_rng(1).random((2, IN_FEATURES), dtype=np.float32))
        ref = self.net(X)
        for label, fn in (("native", self.native), ("ops", self.ops)):
            harness.check_same_numbers(f"{framework} {name}: {label} output", fn(X), ref)

    def candidates(self, mode: str, batch: int) -> dict[str, Callable[[], Any]]:
        """native, ops, polymod and, for ``fwd+bwd``, ``polymod value_and_grad``."""
        import polymod as pm
        from polymod import ops as pm_ops

        X = self.to_input(np.random.default_rng(1).random((batch, IN_FEATURES),
                                                          dtype=np.float32))
        net = self.net
        fns = {"native": self.native, "ops": self.ops, "polymod": net}
        out = harness.step_candidates(self.framework, fns, X, mode, {
            "native": self.native_params, "ops": self.ops_params,
            "polymod": [p.native for p in net.parameters()]})
        if mode == "fwd":
            return out
        vag = pm.value_and_grad(lambda m, X: pm_ops.sum(m(X)))
        if self.framework == "gluon":
            import mxnet as mx

            out["polymod value_and_grad"] = lambda: (vag(net, X), mx.nd.waitall())
        else:
            out["polymod value_and_grad"] = lambda: vag(net, X)
        return out


def run_matrix(ctx: harness.Context, models: list[str], batches: tuple[int, ...]) -> list[dict]:
    """One row per framework, model, mode, batch and way of calling polymod."""
    rows = []
    for fw in ctx.frameworks:
        for name in models:
            suite = Suite(fw, name)
            for mode in ("fwd", "fwd+bwd"):
                for batch in batches:
                    label = f"{mode} b{batch}"
                    times = ctx.compare(suite.candidates(mode, batch))
                    refs = [times["ops"]] if fw == "gluon" else [times["native"], times["ops"]]
                    ref = min(refs)
                    budget = BUDGET.get(label, BUDGET["fwd b1024"])
                    variants = [("polymod", times["polymod"])]
                    if "polymod value_and_grad" in times:
                        variants.append(("pm.value_and_grad", times["polymod value_and_grad"]))
                    for variant, us in variants:
                        ratio = us / ref
                        row = {"model": name, "backend": fw, "mode": label,
                               "polymod_call": variant,
                               "us_native": round(times["native"], 2),
                               "us_ops": round(times["ops"], 2),
                               "us_polymod": round(us, 2),
                               "reference": "ops" if fw == "gluon" or times["ops"] <=
                               times["native"] else "native",
                               "ratio": round(ratio, 3), "budget": budget,
                               "status": "PASS" if ratio <= budget else "OVER"}
                        rows.append(row)
                        ctx.log(harness.format_row(row))
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated chapter models among " + ",".join(MODELS))


def run(ctx: harness.Context) -> dict[str, Any]:
    ctx.log(harness.HEADER)
    rows = run_matrix(ctx, [m for m in ctx.args.models.split(",") if m], BATCHES)
    over = [r for r in rows if r["status"] == "OVER"]
    ctx.log(f"{len(rows) - len(over)} PASS, {len(over)} OVER")
    return {"budgets": BUDGET, "rows": rows}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
