"""What every benchmark shares: one thread, the frameworks, alternating-rounds timing, output.

Import this module before NumPy or any framework: importing it pins every library to
one thread (MXNet and OpenBLAS read the variables when they load). A benchmark part
is a file of ``benchmarks/`` with a ``NAME``, an optional ``add_arguments(parser)``
and a ``run(ctx) -> dict`` that logs its table through ``ctx.log`` and returns its
JSON entries; ``bench.py`` runs the parts listed in its ``PARTS``, and each part runs
alone with the same options through :func:`run_alone`::

    import harness  # first: one thread everywhere

    NAME = "my-part"

    def run(ctx: harness.Context) -> dict:
        times = ctx.compare({"a": lambda: sum(range(100)), "b": lambda: sum(range(200))})
        ctx.log(f"a {times['a']:.1f} µs, b {times['b']:.1f} µs")
        return {"my_part": times}

    if __name__ == "__main__":
        sys.exit(harness.run_alone(sys.modules[__name__]))
"""

from __future__ import annotations

import os

# One thread everywhere; MXNet reads these when it loads, so set them first.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MXNET_CPU_WORKER_NTHREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

#: The frameworks the benchmarks have hand-written native code for, in loading order.
FRAMEWORKS = ("torch", "keras", "gluon")


# -- timing ----------------------------------------------------------------------------------
def time_calls(fn: Callable[[], Any], n: int) -> float:
    """Seconds per call of ``fn`` over ``n`` calls in a row."""
    clock = time.perf_counter
    start = clock()
    for _ in range(n):
        fn()
    return (clock() - start) / n


def compare(candidates: dict[str, Callable[[], Any]], rounds: int, target_s: float,
            max_calls: int) -> dict[str, float]:
    """Best (min) µs per call of each candidate over ``rounds`` alternating rounds."""
    calls = {}
    for name, fn in candidates.items():
        for _ in range(3):  # warm-up: lazy init, allocator, op caches
            fn()
        one = time_calls(fn, 3)
        calls[name] = int(min(max_calls, max(3, target_s / max(one, 1e-7))))
    best = {name: float("inf") for name in candidates}
    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                best[name] = min(best[name], time_calls(fn, calls[name]))
    finally:
        if gc_was_enabled:
            gc.enable()
    return {name: t * 1e6 for name, t in best.items()}


def step_candidates(fw: str, fns: dict[str, Callable[[Any], Any]], X: Any, mode: str,
                    tape_params: dict[str, Any] | None = None) -> dict[str, Callable[[], Any]]:
    """A call (``fwd``) or a call and its backward pass (``fwd+bwd``) of each fn on X.

    The backward pass is the framework's own: torch ``loss.backward()``, a
    ``tf.GradientTape`` over ``tape_params[name]`` (Keras only), MXNet
    ``autograd.record()``/``backward()``; a polymod model (the key ``"polymod"``)
    records on Gluon through its native twin.
    """
    if mode == "fwd":
        if fw == "gluon":
            return {k: (lambda f=f: f(X).wait_to_read()) for k, f in fns.items()}
        return {k: (lambda f=f: f(X)) for k, f in fns.items()}
    if fw == "torch":
        return {k: (lambda f=f: f(X).sum().backward()) for k, f in fns.items()}
    if fw == "keras":
        import tensorflow as tf

        def tape_step(f, ps):
            def step():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_sum(f(X))
                return tape.gradient(loss, ps)
            return step

        return {k: tape_step(f, (tape_params or {})[k]) for k, f in fns.items()}
    import mxnet as mx
    from mxnet import autograd

    import polymod as pm

    def record_step(f):
        def step():
            with autograd.record():
                loss = f(X).sum()
            loss.backward()
            mx.nd.waitall()
        return step

    # a polymod model under Gluon's own recording runs through its native twin
    # (in-place operators such as the chimera's `X /= 2` are handled there)
    return {k: record_step(pm.native(f) if k == "polymod" else f) for k, f in fns.items()}


# -- frameworks and models -----------------------------------------------------------------------
def load_frameworks(wanted: Sequence[str]) -> dict[str, Any]:
    """Imports the frameworks pinned to one thread: torch first, then TensorFlow, then MXNet."""
    from polymod import registry as pmregistry

    loaded: dict[str, Any] = {}
    if "torch" in wanted or "keras" in wanted:
        import torch

        torch.set_num_threads(1)
        try:
            torch.set_num_interop_threads(1)
        except RuntimeError:
            pass
        loaded["torch_module"] = torch
    if "torch" in wanted:
        loaded["torch"] = pmregistry.adapter("torch")
    if "keras" in wanted:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        loaded["keras"] = pmregistry.adapter("keras")
    if "gluon" in wanted:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded["gluon"] = pmregistry.adapter("gluon")  # sets NumPy aliases, loads mxnet
    return loaded


def to_input(fw: str) -> Callable[[np.ndarray], Any]:
    """The framework's conversion of a NumPy array into its input tensor (on the CPU)."""
    if fw == "torch":
        import torch

        return torch.from_numpy
    if fw == "keras":
        import tensorflow as tf

        return tf.convert_to_tensor
    import mxnet as mx
    from mxnet import np as mnp

    return lambda a: mnp.array(a, ctx=mx.cpu())


def polymod_model(build: Callable[[], Any], input_shape: tuple[int, ...], backend: str,
                  seed: int = 0) -> Any:
    """``build()`` after ``pm.seed(seed)``, bound to ``backend`` by one call at batch 2
    (which also materialises lazy shapes)."""
    import polymod as pm

    pm.seed(seed)
    net = build()
    net(pm.rand(2, *input_shape, backend=backend))
    return net


def check_same_numbers(what: str, got: Any, ref: Any) -> None:
    """Raises if two candidates compute different numbers: their timing would be meaningless."""
    import polymod as pm

    got, ref = pm.to_numpy(got), pm.to_numpy(ref)
    if got.shape != ref.shape or not np.allclose(got, ref, rtol=1e-4, atol=1e-5):
        diff = np.abs(got - ref).max() if got.shape == ref.shape else "n/a (shapes differ)"
        raise AssertionError(f"{what} differs from polymod's (shape {got.shape} vs "
                             f"{ref.shape}, max abs diff {diff})")


def run_script(script: str, *argv: object, env: dict[str, str] | None = None,
               timeout: float = 600) -> dict[str, Any]:
    """Runs a Python script in a fresh interpreter; the JSON object its last output line
    prints, or ``{"error": <its last line of stderr>}``."""
    proc = subprocess.run([sys.executable, "-c", script, *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- rows ---------------------------------------------------------------------------------------
HEADER = (f"{'model':<15} {'backend':<6} {'mode':<14} {'polymod call':<18} {'native µs':>10} "
          f"{'ops µs':>9} {'polymod µs':>10} {'ratio':>6} {'budget':>6}  status")


def _cell(value: float | None, spec: str) -> str:
    width = "".join(c for c in spec.partition(".")[0] if c.isdigit())
    return f"{'-':>{width}}" if value is None else format(value, spec)


def format_row(r: dict[str, Any]) -> str:
    """One row under :data:`HEADER`; a missing reference, budget or status prints ``-``."""
    return (f"{r['model']:<15} {r['backend']:<6} {r['mode']:<14} {r['polymod_call']:<18} "
            f"{_cell(r['us_native'], '>10.1f')} {_cell(r['us_ops'], '>9.1f')} "
            f"{_cell(r['us_polymod'], '>10.1f')} {_cell(r['ratio'], '>6.3f')} "
            f"{_cell(r.get('budget'), '>6.2f')}  {r.get('status', '-')}")


# -- options and running --------------------------------------------------------------------------
@dataclass
class Context:
    """What a part needs to run: the options, the loaded frameworks, the timing settings."""

    args: argparse.Namespace
    frameworks: list[str]  # selected and installed, in FRAMEWORKS order
    installed: set[str]
    config: dict[str, Any]
    rounds: int
    target_s: float
    max_calls: int
    log: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    @property
    def quick(self) -> bool:
        return bool(self.args.quick)

    def compare(self, candidates: dict[str, Callable[[], Any]]) -> dict[str, float]:
        """:func:`compare` with this run's rounds and calls per round."""
        return compare(candidates, self.rounds, self.target_s, self.max_calls)


def parser(description: str) -> argparse.ArgumentParser:
    """The options every part takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="tiny configuration (few calls, small model, no torch.compile)")
    p.add_argument("--backends", default=",".join(FRAMEWORKS),
                   help="comma-separated frameworks (default, all of them: %(default)s)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--rounds", type=int, default=7,
                   help="alternating rounds per comparison (the best is kept); more "
                   "rounds steady the batch-1024 rows on a noisy machine")
    return p


def start(args: argparse.Namespace, parser: argparse.ArgumentParser) -> Context:
    """Loads the selected frameworks and logs the configuration line."""
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; received {args.rounds}")
    import polymod as pm

    wanted = [pm.registry.canonical_name(b) for b in args.backends.split(",") if b.strip()]
    installed = set(pm.available_backends())
    frameworks = [b for b in FRAMEWORKS if b in wanted and b in installed]
    missing = [b for b in wanted if b not in installed]
    if args.quick:
        rounds, target_s, max_calls = 2, 0.002, 20
    else:
        rounds, target_s, max_calls = args.rounds, 0.08, 20000
    load_frameworks(frameworks)
    config = {"quick": args.quick, "rounds": rounds, "target_seconds_per_round": target_s,
              "threads": 1, "python": platform.python_version(),
              "machine": platform.machine(), "cpus": os.cpu_count(),
              "backends": frameworks, "missing": missing,
              "versions": {b: pm.registry.adapter(b).version() for b in frameworks}}
    ctx = Context(args, frameworks, installed, config, rounds, target_s, max_calls)
    ctx.log(f"polymod benchmark: {config}")
    return ctx


def run_parts(parts: Sequence[ModuleType], description: str, argv: list[str] | None = None,
              skippable: bool = False) -> int:
    """Parses the options of ``parts``, runs them in order, writes ``--json``."""
    p = parser(description)
    for part in parts:
        if hasattr(part, "add_arguments"):
            part.add_arguments(p)
    if skippable:
        p.add_argument("--skip", default="", help="comma-separated parts to skip: "
                       + ",".join(part.NAME for part in parts))
    args = p.parse_args(argv)
    skip = set(filter(None, getattr(args, "skip", "").split(",")))
    if skip - {part.NAME for part in parts}:
        p.error(f"--skip takes {','.join(part.NAME for part in parts)}; received {args.skip}")
    ctx = start(args, p)
    result: dict[str, Any] = {"config": ctx.config}
    for part in parts:
        if part.NAME not in skip:
            result.update(part.run(ctx))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


def run_alone(part: ModuleType, argv: list[str] | None = None) -> int:
    """Runs one part with the common options; its module docstring is the ``--help`` text."""
    return run_parts([part], (part.__doc__ or "").split("\n\n")[0], argv)
