"""Where the time goes on the real models: py-spy samples of polymod's and the native step.

    python benchmarks/real_profile.py                         # ResNet-50 and the encoder
    python benchmarks/real_profile.py --quick --models bert --backends keras

For each model at its first batch of ``real_models.py`` (same sizes and options),
framework, mode (eval forward, training step) and side (polymod, the native model),
a worker process runs the eager step in a loop under ``py-spy record --native --idle``
(50 samples a second, main thread). Only samples inside the timed step are kept, and
each is put in one bucket by its innermost frames:

* ``polymod_python``: the interpreter running polymod's own code (``polymod/``,
  ``backends/``): per-layer dispatch, handles, argument checks;
* ``framework_python``: the interpreter running the framework's Python (``torch.nn``,
  Keras layers and TensorFlow's eager wrappers, Gluon blocks, ``jax.numpy``);
* ``framework_native``: the framework's C/C++ (kernels, dispatch, autograd), apart from
  two buckets of their own: ``transposes`` (a framework frame named like
  ``transpose``/``permute`` on the stack) and ``syncs`` (MXNet ``WaitForVar``/
  ``WaitToRead``/``WaitForAll`` under polymod's or the model's code, not the step's own
  final wait);
* ``final_wait``: the step's own wait for MXNet's engine or JAX's dispatch.

Needs ``py-spy`` (``pip install py-spy``); without it the part says so and returns
nothing. JSON key: ``real_profile``.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                           " intra_op_parallelism_threads=1").strip()

import argparse  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402

import harness  # noqa: E402 -- first among the benchmark modules: one thread everywhere
import real_models  # noqa: E402
import real_specs  # noqa: E402

NAME = "real-profile"
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# py-spy names files relative to their sys.path entry: polymod/..., backends/..., torch/...
OURS = ("polymod/", "backends/", os.path.join(ROOT, "polymod") + os.sep,
        os.path.join(ROOT, "backends") + os.sep)
PY_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*\.py):\d+\)$")
SYNC = re.compile(r"WaitForVar|WaitToRead|WaitForAll|WaitAll")
STEPS = "real_steps.py"
FINAL_WAIT = re.compile(r"^(waitall \(|block_until_ready \(|<lambda> \(.*real_steps\.py)")


def add_arguments(parser: Any) -> None:
    real_models.add_arguments(parser)
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="seconds of sampling per worker (quick: 2)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # model,backend,batch,mode,side


def _python_file(frame: str) -> str | None:
    m = PY_FRAME.match(frame)
    return m.group("file") if m else None


def classify(stack: list[str]) -> str | None:
    """The bucket of one sample (root-first frames), or None outside the timed step."""
    files = [_python_file(f) for f in stack]
    steps = [i for i, (f, file) in enumerate(zip(stack, files, strict=True))
             if file and os.path.basename(file) == STEPS and f.startswith("step ")]
    if not steps:
        return None
    below = stack[steps[-1]:]
    below_files = files[steps[-1]:]
    if len(below) > 1 and FINAL_WAIT.match(below[1]):
        return "final_wait"  # the step's own wait (real_steps._waiter / waitall / block)
    nearest = max(i for i, file in enumerate(below_files) if file)
    native = below[nearest + 1:]
    # a transpose anywhere in the framework's frames (TensorFlow's C++ symbols are hidden,
    # its Python wrappers are not): ``transpose (tensorflow/.../array_ops.py)``, ``permute``
    if any(("ranspose" in f or "permute" in f) and not (file or "").startswith(OURS)
           for f, file in zip(below, below_files, strict=True)):
        return "transposes"
    if any(SYNC.search(f) for f in native):
        return "syncs"
    interpreter = not native or all(("libpython" in f or "python3" in f or "libc.so" in f)
                                    for f in native)
    if interpreter:
        return "polymod_python" if below_files[nearest].startswith(OURS) else "framework_python"
    return "framework_native"


def summarize(raw: str) -> dict[str, Any]:
    counts: Counter = Counter()
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        bucket = classify(stack.split(";"))
        if bucket:
            counts[bucket] += int(n)
    total = sum(counts.values())
    shares = {k: round(counts[k] / total, 4) if total else None for k in
              ("polymod_python", "framework_python", "framework_native", "transposes",
               "syncs", "final_wait")}
    return {"samples": total, **shares}


def work(ctx: harness.Context) -> None:
    """The worker: one step in a loop for ``--seconds``."""
    model, backend, batch, mode, side = ctx.args.worker.split(",")
    sizes = real_specs.sizes(ctx.quick, ctx.args.image, ctx.args.bert_layers)[model]
    spec = real_specs.build(model, backend, int(batch), sizes)
    step = spec.candidates(mode, "eager")[0][side]
    step()
    step()
    end = time.perf_counter() + ctx.args.seconds
    while time.perf_counter() < end:
        step()


def _spawn(ctx: harness.Context, job: str) -> dict[str, Any]:
    argv = list(sys.argv[1:])
    if "--json" in argv:  # the workers write no JSON
        del argv[argv.index("--json"):argv.index("--json") + 2]
    argv = [a for a in argv if not a.startswith(("--json=", "--backends="))]
    if "--backends" in argv:  # the worker loads only its own framework
        del argv[argv.index("--backends"):argv.index("--backends") + 2]
    argv += ["--backends", job.split(",")[1]]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "raw.txt")
        cmd = ["py-spy", "record", "--native", "--idle", "-r", "50", "-f", "raw", "-o", out,
               "--", sys.executable, os.path.abspath(__file__), *argv, "--worker", job]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if not os.path.exists(out):  # py-spy may exit non-zero after writing (no child)
            return {"error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
        with open(out) as f:
            return summarize(f.read())


def run(ctx: harness.Context) -> dict[str, Any]:
    if ctx.args.worker:
        work(ctx)
        return {}
    if shutil.which("py-spy") is None:
        ctx.log("\nreal_profile: py-spy is not installed (pip install py-spy); skipped")
        return {}
    import polymod as pm

    args = ctx.args
    if ctx.quick:
        args.seconds = min(args.seconds, 2.0)
    wanted = [pm.registry.canonical_name(b) for b in args.backends.split(",") if b.strip()]
    backends = [b for b in real_models.BACKENDS if b in wanted and b in ctx.installed]
    sizes = real_specs.sizes(ctx.quick, args.image, args.bert_layers)
    ctx.log("\nwhere the eager step's time goes (py-spy, share of samples in the step):")
    ctx.log(f"{'model':<9} {'bat':>3} {'backend':<6} {'mode':<5} {'side':<7} {'samples':>7} "
            f"{'pm py':>6} {'fw py':>6} {'fw C':>6} {'transp':>6} {'syncs':>6} {'wait':>6}")
    rows = []
    for model in [m for m in args.models.split(",") if m]:
        batch = sizes[model]["batches"][0]
        for backend in backends:
            for mode in [m for m in args.modes.split(",") if m]:
                for side in ("polymod", "native"):
                    row = {"model": model, "batch": batch, "backend": backend, "mode": mode,
                           "side": side,
                           **_spawn(ctx, f"{model},{backend},{batch},{mode},{side}")}
                    rows.append(row)
                    if "error" in row:
                        ctx.log(f"{model:<9} {batch:>3} {backend:<6} {mode:<5} {side:<7} "
                                f"failed: {row['error']}")
                        continue
                    cells = " ".join(f"{row[k]:>6.1%}" if row[k] is not None else f"{'-':>6}"
                                     for k in ("polymod_python", "framework_python",
                                               "framework_native", "transposes", "syncs",
                                               "final_wait"))
                    ctx.log(f"{model:<9} {batch:>3} {backend:<6} {mode:<5} {side:<7} "
                            f"{row['samples']:>7} {cells}")
    return {"real_profile": rows}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
