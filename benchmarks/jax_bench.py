"""polymod on JAX against hand-written pure JAX (and Keras 3 on JAX): ratio tables.

    python benchmarks/jax_bench.py --backends ""          # full run, a few minutes
    python benchmarks/jax_bench.py --backends "" --quick  # tiny configuration (the tests)

For the chapter's MLP (``sequential_mlp``: Linear(20, 256), ReLU, Linear(256, 10)) and
the book's LeNet, at batch 2 and 1024 (``--quick``: 2 only), forward and forward +
backward:

* ``jit``: ``jax.jit`` over ``pm.native(net).apply`` (and ``jax.value_and_grad`` of its
  sum) against ``jax.jit`` of a hand-written pure-JAX function of the same model with
  the same weights. Tracing erases polymod, so the target is <= 1.05x; each row also
  says whether both compile to the same XLA instructions (counted by kind), which
  holds whatever noise the timings carry.
* ``eager``: ``net(X)`` and ``pm.value_and_grad`` against the pure-JAX function run
  op by op (and ``jax.value_and_grad`` of it, not jitted). Target <= 1.15x.

The pure-JAX reference is the faster of two hand-written forms: ``X @ W.T + b`` (how
one writes it) and ``lax.dot_general`` without the transpose (how polymod's adapter
does it). Outputs are checked equal before timing.

Also: Keras 3 with ``KERAS_BACKEND=jax`` on the same models (a subprocess: eager
``model(X)`` and ``jax.jit`` over ``model.stateless_call``) against the same pure JAX,
and the import time of ``polymod.backends.jax`` (``import polymod`` itself loads no
framework; import_time.py checks that). A harness part (``NAME = "jax"``), run alone:
not in bench.py, whose parts compare with each framework's own modules (JAX has
none). ``--backends`` selects the other frameworks to load alongside; ``""`` loads
none. XLA's CPU client is pinned to one thread with ``XLA_FLAGS`` before JAX loads.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                           " intra_op_parallelism_threads=1").strip()

import collections  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import harness  # noqa: E402  -- first of the libraries: one thread everywhere
import numpy as np  # noqa: E402

NAME = "jax"
HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = {"jit": 1.05, "eager": 1.15}
MODELS = ("sequential_mlp", "LeNet")


# -- the models: polymod and hand-written pure JAX ---------------------------------------------
def polymod_model(name: str) -> Any:
    import polymod as pm
    from polymod.examples import chapter, vision

    pm.seed(0)
    return chapter.sequential_mlp() if name == "sequential_mlp" else vision.LeNet()


def input_shape(name: str, batch: int) -> tuple[int, ...]:
    return (batch, 20) if name == "sequential_mlp" else (batch, 1, 28, 28)


def pure_jax(name: str, transpose: bool) -> Callable[[dict, Any], Any]:
    """The model as a pure function of ``{name: array}`` (polymod's names and layout)."""
    import jax
    import jax.numpy as jnp
    from jax import lax

    def dense(W, prefix, X):
        w, b = W[f"{prefix}.weight"], W[f"{prefix}.bias"]
        if transpose:
            return X @ w.T + b
        return lax.dot_general(X, w, (((X.ndim - 1,), (1,)), ((), ()))) + b

    if name == "sequential_mlp":
        return lambda W, X: dense(W, "2", jax.nn.relu(dense(W, "0", X)))

    def conv(W, prefix, X, pad):
        out = lax.conv_general_dilated(X, W[f"{prefix}.weight"], (1, 1), [(pad, pad)] * 2,
                                       dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + W[f"{prefix}.bias"][None, :, None, None]

    def pool(X):
        return lax.reduce_window(X, 0.0, lax.add, (1, 1, 2, 2), (1, 1, 2, 2), "VALID") / 4

    def lenet(W, X):
        X = pool(jax.nn.sigmoid(conv(W, "net.0", X, 2)))
        X = pool(jax.nn.sigmoid(conv(W, "net.3", X, 0)))
        X = jnp.reshape(X, (X.shape[0], -1))
        X = jax.nn.sigmoid(dense(W, "net.7", X))
        X = jax.nn.sigmoid(dense(W, "net.9", X))
        return dense(W, "net.11", X)

    return lenet


def _ready(fn: Callable[[], Any]) -> Callable[[], Any]:
    import jax

    return lambda: jax.block_until_ready(fn())  # JAX dispatches asynchronously


def xla_ops(fn: Callable, *args: Any) -> collections.Counter:
    """How many of each XLA instruction the compiled ``fn`` runs (names and metadata aside)."""
    import jax

    text = jax.jit(fn).lower(*args).compile().as_text()
    return collections.Counter(re.findall(r"= \S+ ([\w-]+)\(", text))


def candidates(name: str, batch: int, mode: str) -> tuple[dict, dict, bool | None]:
    """``(polymod candidates, pure-JAX candidates, same XLA program)`` for one row, outputs
    checked equal; the last is whether polymod's jitted function compiles to the same
    instructions as the ``dot_general`` form (None for eager rows)."""
    import jax
    import jax.numpy as jnp

    import polymod as pm
    from polymod import ops

    X = pm.asarray(np.random.default_rng(0).random(input_shape(name, batch), np.float32),
                   backend="jax")
    net = polymod_model(name).to("jax")
    net.eval()(X)
    twin = pm.native(net)
    W = twin.params
    pure = {"X@W.T": pure_jax(name, True), "dot_general": pure_jax(name, False)}
    kind, direction = mode.split()
    if direction == "fwd":
        ours, theirs = (lambda p, x: twin.apply(p, x)), pure
    else:
        ours = jax.value_and_grad(lambda p, x: jnp.sum(twin.apply(p, x)))
        theirs = {k: jax.value_and_grad(lambda W, X, f=f: jnp.sum(f(W, X)))
                  for k, f in pure.items()}
    same = None
    if kind == "jit":
        mine = {"polymod": partial(jax.jit(ours), W, X)}
        refs = {k: partial(jax.jit(f), W, X) for k, f in theirs.items()}
        same = xla_ops(ours, W, X) == xla_ops(theirs["dot_general"], W, X)
    else:  # the polymod model itself, eagerly: its call and pm.value_and_grad
        step = pm.value_and_grad(lambda m, X: ops.sum(m(X)))
        mine = {"polymod": partial(net, X) if direction == "fwd" else partial(step, net, X)}
        refs = {k: partial(f, W, X) for k, f in theirs.items()}
    got = jax.tree.leaves(mine["polymod"]())
    for ref in refs.values():
        want = jax.tree.leaves(ref())
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=1e-4)
    return ({k: _ready(f) for k, f in mine.items()}, {k: _ready(f) for k, f in refs.items()},
            same)


def run_matrix(models: list[str], batches: list[int], compare: Callable,
               log: Callable[[str], None]) -> list[dict]:
    rows = []
    for name in models:
        for kind in ("jit", "eager"):
            for direction in ("fwd", "fwd+bwd"):
                for batch in batches:
                    mine, refs, same = candidates(name, batch, f"{kind} {direction}")
                    us = compare({**mine, **refs})
                    best_ref = min(refs, key=lambda k: us[k])
                    ratio = us["polymod"] / us[best_ref]
                    row = {"model": name, "mode": f"{kind} {direction} b{batch}",
                           "us_polymod": round(us["polymod"], 2),
                           "us_pure_jax": round(us[best_ref], 2), "pure_jax_form": best_ref,
                           "ratio": round(ratio, 3), "target": TARGET[kind],
                           "status": "PASS" if ratio <= TARGET[kind] else "OVER",
                           "same_xla_program": same}
                    rows.append(row)
                    log(f"  {name:<15} {row['mode']:<20} polymod {row['us_polymod']:>10.1f} µs"
                        f"   pure JAX {row['us_pure_jax']:>10.1f} µs ({best_ref:<11})"
                        f"   {ratio:5.2f}x  {row['status']}"
                        + ("" if same is None else f"  same XLA program: {same}"))
    return rows


# -- Keras 3 on JAX, the peer (a subprocess: KERAS_BACKEND is read once) --------------------------
KERAS_SCRIPT = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
import jax, jax.numpy as jnp
import keras
from jax_bench import input_shape, pure_jax, _ready
from harness import compare
weights = dict(np.load(sys.argv[2]))
rounds, target_s, max_calls = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
batches = [int(b) for b in sys.argv[6].split(",")]
L = keras.layers

def keras_model(name):
    if name == "sequential_mlp":
        model = keras.Sequential([keras.Input((20,)), L.Dense(256, activation="relu"),
                                  L.Dense(10)])
        pairs = [("0", model.layers[0]), ("2", model.layers[1])]
    else:
        cf = "channels_first"
        model = keras.Sequential([
            keras.Input((1, 28, 28)),
            L.Conv2D(6, 5, padding="same", activation="sigmoid", data_format=cf),
            L.AveragePooling2D(2, 2, data_format=cf),
            L.Conv2D(16, 5, activation="sigmoid", data_format=cf),
            L.AveragePooling2D(2, 2, data_format=cf),
            L.Flatten(), L.Dense(120, activation="sigmoid"), L.Dense(84, activation="sigmoid"),
            L.Dense(10)])
        names = ["net.0", "net.3", "net.7", "net.9", "net.11"]
        pairs = list(zip(names, [l for l in model.layers if l.weights]))
    for prefix, layer in pairs:
        w = weights[f"{name}/{prefix}.weight"]
        # OIHW -> HWIO; (out, in) -> (in, out)
        kernel = w.transpose(2, 3, 1, 0) if w.ndim == 4 else w.T
        layer.set_weights([kernel, weights[f"{name}/{prefix}.bias"]])
    return model

rows = []
for name in ("sequential_mlp", "LeNet"):
    model = keras_model(name)
    W = {k.split("/", 1)[1]: jnp.asarray(v) for k, v in weights.items() if k.startswith(name + "/")}
    pure = pure_jax(name, False)
    tv = [v.value for v in model.trainable_variables]
    def call(tv, x):
        return model.stateless_call(tv, [], x)[0]
    for batch in batches:
        X = jnp.asarray(np.random.default_rng(0).random(input_shape(name, batch), np.float32))
        np.testing.assert_allclose(np.asarray(model(X)), np.asarray(pure(W, X)), rtol=2e-4,
                                   atol=1e-4)
        modes = {
            "eager fwd": (lambda: model(X), lambda: pure(W, X)),
            "jit fwd": (lambda f=jax.jit(call): f(tv, X), lambda f=jax.jit(pure): f(W, X)),
            "jit fwd+bwd": (
                lambda f=jax.jit(jax.value_and_grad(lambda t, x: jnp.sum(call(t, x)))): f(tv, X),
                lambda f=jax.jit(jax.value_and_grad(lambda w, x: jnp.sum(pure(w, x)))): f(W, X)),
        }
        for mode, (k, p) in modes.items():
            us = compare({"keras": _ready(k), "pure": _ready(p)}, rounds, target_s, max_calls)
            rows.append({"model": name, "mode": f"{mode} b{batch}",
                         "us_keras_on_jax": round(us["keras"], 2),
                         "us_pure_jax": round(us["pure"], 2),
                         "ratio": round(us["keras"] / us["pure"], 3)})
print(json.dumps({"keras_version": keras.__version__, "rows": rows}))
"""


def keras_on_jax(batches: list[int], rounds: int, target_s: float, max_calls: int) -> dict:
    """Keras 3 on JAX, same models and weights, in a subprocess (KERAS_BACKEND is read once)."""
    weights = {}
    for name in MODELS:
        net = polymod_model(name).to("numpy")
        net(np.zeros(input_shape(name, 1), np.float32))
        weights.update({f"{name}/{k}": v for k, v in net.state_dict().items()})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "weights.npz")
        np.savez(path, **weights)
        env = {**os.environ, "KERAS_BACKEND": "jax"}
        return harness.run_script(KERAS_SCRIPT, HERE, path, rounds, target_s, max_calls,
                                  ",".join(map(str, batches)), env=env, timeout=1800)


# -- import time -------------------------------------------------------------------------------
IMPORT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import polymod
t1 = time.perf_counter()
polymod.registry.adapter("jax")
t2 = time.perf_counter()
print(json.dumps({"polymod_ms": (t1 - t0) * 1e3, "jax_adapter_ms": (t2 - t1) * 1e3}))
"""
JAX_ALONE = r"""
import json, time
t = time.perf_counter()
import jax, jax.numpy
print(json.dumps({"jax_ms": (time.perf_counter() - t) * 1e3}))
"""


def import_times(repeats: int) -> dict:
    """``polymod.backends.jax`` loaded after ``import polymod``, and JAX alone (fresh
    interpreters, the fastest of ``repeats`` runs)."""
    env = {k: v for k, v in os.environ.items() if k != "POLYMOD_BACKEND"}
    runs = [harness.run_script(IMPORT_SCRIPT, env=env, timeout=300) for _ in range(repeats)]
    alone = [harness.run_script(JAX_ALONE, env=env, timeout=300) for _ in range(repeats)]
    errors = [r["error"] for r in runs + alone if "error" in r]
    if errors:
        return {"error": errors[0]}
    return {"import_polymod_ms": round(min(r["polymod_ms"] for r in runs), 1),
            "import_polymod_backends_jax_ms": round(min(r["jax_adapter_ms"] for r in runs), 1),
            "import_jax_alone_ms": round(min(r["jax_ms"] for r in alone), 1)}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--jax-models", default=",".join(MODELS),
                        help="comma-separated models among " + ",".join(MODELS))
    parser.add_argument("--no-keras-jax", action="store_true",
                        help="leave out Keras 3 on JAX (the subprocess)")


def run(ctx: harness.Context) -> dict[str, Any]:
    import jax

    import polymod as pm

    batches = [2] if ctx.quick else [2, 1024]
    config = {"jax": pm.registry.adapter("jax").version(), "x64": bool(jax.config.jax_enable_x64),
              "batches": batches, "targets": TARGET}
    ctx.log(f"\npolymod on JAX vs hand-written pure JAX: {config}")
    models = [m for m in ctx.args.jax_models.split(",") if m]
    rows = run_matrix(models, batches, ctx.compare, ctx.log)
    over = [r for r in rows if r["status"] == "OVER"]
    ctx.log(f"{len(rows) - len(over)} PASS, {len(over)} OVER")
    result: dict[str, Any] = {"jax": {"config": config, "rows": rows}}
    if not ctx.args.no_keras_jax:
        ctx.log("\nKeras 3 with KERAS_BACKEND=jax (subprocess), same models and weights:")
        peer = keras_on_jax(batches, ctx.rounds, ctx.target_s, ctx.max_calls)
        for r in peer.get("rows", []):
            ctx.log(f"  {r['model']:<15} {r['mode']:<20} keras {r['us_keras_on_jax']:>10.1f} µs"
                    f"   pure JAX {r['us_pure_jax']:>10.1f} µs   {r['ratio']:5.2f}x")
        if "error" in peer:
            ctx.log(f"  failed: {peer['error']}")
        result["jax"]["keras_on_jax"] = peer
    result["jax"]["import"] = import_times(1 if ctx.quick else 5)
    ctx.log(f"\nimports: {result['jax']['import']}")
    return result


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
