"""What `polymod compare` costs on real models, and whether it finds a planted divergence.

    python benchmarks/compare_cost.py                  # ResNet-18 (2x3x64x64) and BERT (2x16)
    python benchmarks/compare_cost.py --rounds 5 --json cost.json
    python benchmarks/compare_cost.py --quick          # tiny inputs, one round (the smoke test)

Measured, one thread, best of ``--rounds``:

1. per backend, the time compare spends on one model (build from the seed, forward,
   gradients) without and with ``--trace``;
2. per backend, one forward call of the built model plain and with the trace
   instrument recording every submodule's output: the overhead of ``--trace`` over a
   plain forward;
3. the whole comparison (``polymod.compare.compare``, every backend and the NumPy
   reference) without and with trace, and the command itself (a fresh process:
   imports included);
4. a planted divergence: one layer's output times 1 + 1e-4 on one backend, in eval and
   train mode; compare with trace must name that layer.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
             "MXNET_CPU_WORKER_NTHREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

import polymod as pm  # noqa: E402
from polymod import registry  # noqa: E402
from polymod.compare import compare  # noqa: E402
from polymod.compare.instrument import Recorder, watching  # noqa: E402
from polymod.compare.running import run_backend  # noqa: E402
from polymod.examples import bert, resnet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PLANTED = {"resnet18": "layer2.0.conv2", "bert": "encoder.layer.1.attention.self.value"}


def models(quick: bool) -> dict:
    size, length = (32, 8) if quick else (64, 16)
    images = np.random.default_rng(0).random((2, 3, size, size), dtype=np.float32)
    return {"resnet18": (lambda: resnet.resnet18(num_classes=10), (images,), {},
                         f"2x3x{size}x{size}"),
            "bert": (bert.BertModel, (), bert.bert_inputs(2, length), f"2x{length} tokens")}


def one_thread() -> None:
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def best(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def forward_cost(factory, args, kwargs, backend: str, rounds: int) -> tuple[float, float]:
    """Seconds per forward call, plain and with the trace instrument recording."""
    adapter = registry.adapter(backend)
    with pm.use_backend(backend):
        pm.seed(0)
        net = factory().to(backend).eval()
        xs = [adapter.from_numpy(a) for a in args]
        kws = {k: adapter.from_numpy(v) for k, v in kwargs.items()}

        def plain():
            with adapter.no_grad():
                for leaf in _leaves(net(*xs, **kws)):
                    adapter.to_numpy(leaf)

        def traced():
            with adapter.no_grad(), watching(net, Recorder(record=True)):
                for leaf in _leaves(net(*xs, **kws)):
                    adapter.to_numpy(leaf)

        plain()
        first = best(traced, 1)
        # alternating, so both share the machine's noise; at least ~1 s of calls each
        repeats = max(rounds * 2, min(200, int(1.0 / max(first, 1e-4))))
        t_plain, t_traced = float("inf"), float("inf")
        for _ in range(repeats):
            t_plain = min(t_plain, best(plain, 1))
            t_traced = min(t_traced, best(traced, 1))
    return t_plain, t_traced


def _leaves(out):
    return list(out.values()) if isinstance(out, dict) else [out]


def planted(factory, path: str, backend: str, factor: float = 1 + 1e-4):
    def make():
        net = factory()
        module = dict(net.named_modules())[path]
        forward = module.forward

        def skewed(*a, **k):
            out = forward(*a, **k)
            return out * factor if pm.backend_of(out) == backend else out

        module.__dict__["forward"] = skewed
        return net

    return make


def cli_seconds(target: str, inputs: str, trace: bool, backends: list[str]) -> float:
    command = [sys.executable, "-m", "polymod", "compare", target, "--inputs", inputs,
               "--backends", ",".join(backends), "--no-timing", "-q", "--json"]
    start = time.perf_counter()
    result = subprocess.run(command + (["--trace"] if trace else []), capture_output=True,
                            text=True, cwd=ROOT, timeout=1800)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return seconds


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="resnet18,bert")
    parser.add_argument("--backends", default=None, help="frameworks (default: installed)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny inputs, one round, no CLI")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    frameworks = (args.backends.split(",") if args.backends else
                  [b for b in registry.FRAMEWORKS if registry.is_installed(b)])
    one_thread()
    chosen = {k: v for k, v in models(args.quick).items() if k in args.models.split(",")}
    report: dict = {"rounds": rounds, "per_backend": [], "total": [], "planted": []}
    for name, (factory, xs, kws, shape) in chosen.items():
        for backend in ["numpy", *frameworks]:
            run = {t: best(partial(run_backend, factory, xs, kws, backend,
                                   grads=backend != "numpy", trace=t), rounds)
                   for t in (False, True)}
            plain, traced = forward_cost(factory, xs, kws, backend, rounds)
            row = {"model": name, "input": shape, "backend": backend,
                   "compare_s": run[False], "compare_trace_s": run[True],
                   "forward_ms": plain * 1e3, "forward_traced_ms": traced * 1e3,
                   "trace_overhead": traced / plain}
            report["per_backend"].append(row)
            print(f"{name:9} {backend:6} compare {run[False]:6.2f} s, with trace "
                  f"{run[True]:6.2f} s | forward {plain * 1e3:8.2f} ms, traced "
                  f"{traced * 1e3:8.2f} ms ({traced / plain:.2f}x)", flush=True)
        totals = {t: best(partial(compare, factory, xs, kws, backends=frameworks, trace=t),
                          rounds) for t in (False, True)}
        row = {"model": name, "compare_s": totals[False], "compare_trace_s": totals[True]}
        if not args.quick:
            target, inputs = {"resnet18": ("benchmarks/compare_cost.py:resnet18_64",
                                           "benchmarks/compare_cost.py:images_64"),
                              "bert": ("polymod.examples.bert:BertModel",
                                       "polymod.examples.bert:bert_inputs")}[name]
            row["cli_s"] = cli_seconds(target, inputs, False, frameworks)
            row["cli_trace_s"] = cli_seconds(target, inputs, True, frameworks)
        report["total"].append(row)
        print(f"{name:9} all    compare {totals[False]:6.2f} s, with trace "
              f"{totals[True]:6.2f} s" + (f" | command {row['cli_s']:.1f} s, with --trace "
                                          f"{row['cli_trace_s']:.1f} s" if "cli_s" in row
                                          else ""), flush=True)
        for mode in ("eval", "train"):
            culprit = frameworks[-1]
            records = compare(planted(factory, PLANTED[name], culprit), xs, kws,
                              backends=frameworks, mode=mode, trace=True, grads=False)
            found = {r.backend: r.first_divergence for r in records if not r.ok}
            rel = next((r.divergence["max_rel_diff"] for r in records if r.divergence), None)
            hit = found == {culprit: PLANTED[name]}
            report["planted"].append({"model": name, "mode": mode, "backend": culprit,
                                      "planted_at": PLANTED[name], "found": found,
                                      "max_rel_diff": rel, "found_right": hit})
            print(f"{name:9} {mode:5} planted x(1+1e-4) at {PLANTED[name]} on {culprit}: "
                  f"found {found} (rel {rel:.2e}) -> {'right' if hit else 'WRONG'}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


def resnet18_64() -> pm.Module:
    """ResNet-18 with 10 classes (the command-line target of the benchmark)."""
    return resnet.resnet18(num_classes=10)


def images_64() -> np.ndarray:
    return np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)


if __name__ == "__main__":
    main()
