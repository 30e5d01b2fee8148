"""Real models: polymod's ResNet-50 and BERT encoder against each framework's own.

    python benchmarks/real_models.py                      # default run, under 10 min idle
    python benchmarks/real_models.py --quick --json out.json
    python benchmarks/real_models.py --models bert --backends torch,jax --modes eval

ResNet-50 (``polymod.examples.resnet.resnet50``, 1000 classes) on ``--image`` x
``--image`` RGB images (default 64: 224 would take an hour on one thread) at batch 1
and 16, and a BERT-base-shaped encoder (``polymod.examples.bert.BertModel``: hidden
768, 12 heads, feed-forward 3072, vocabulary 30522, dropout off; ``--bert-layers``
layers, default 2 of BERT-base's 12) on 128 tokens at batch 1 and 8. For each
framework, against its own implementation of the same architecture (``native_resnet.py``,
``native_encoder.py``): torchvision's ``resnet50`` and Hugging Face's ``BertModel``;
``keras.applications.ResNet50`` and a Keras-layers encoder; the Gluon model zoo's
``resnet50_v1`` and a Gluon ``HybridBlock`` encoder; pure JAX. Same weights and outputs
checked equal first where the architecture is the same (all but the Keras and Gluon
ResNets, which are ResNet V1: see ``native_resnet.py``).

Modes (``--modes``): ``eval`` (forward, no gradients) and ``train`` (forward + backward +
SGD step), each ``eager`` and ``compiled`` (``--paths``). Compiled is the framework's
fast path: ``torch.compile``, ``tf.function``, Gluon ``hybridize()`` (the native model
only: MXNet 1.9 compiles only ``hybrid_forward(F, ...)`` code, so polymod's row runs
eagerly), ``jax.jit``. ``torch.compile`` rows are at each model's first batch only
unless ``--torch-compile-all-batches`` (each compilation takes a minute or more).
polymod's compiled side is ``real_specs.fast_path`` (``pm.compile`` on Keras; elsewhere
what ``pm.compile`` runs, written out so the timed step can wrap it). One thread, candidates timed in alternating rounds, the best round
kept. Ratio = polymod / native; targets: eager eval <= 1.10, compiled eval <= 1.05,
training step <= 1.10. Some rows also time the framework's other model of the network
(``ms_<key>``, ``ratio_vs_<key>``): Keras' ResNet rows ``keras.applications.ResNet50``
built channels-first, polymod's NCHW layout (``native_nchw``); Gluon's ResNet rows, whose
native model is a ``gluon.nn`` ResNet-50 V1.5 holding polymod's weights, the model zoo's
``resnet50_v1`` (V1, ``native_zoo``).

JSON key: ``real_models`` (``config`` and one row per model, batch, backend, mode, path).
Not part of ``bench.py`` (it takes minutes); ``--quick`` uses tiny sizes.
"""

from __future__ import annotations

import os

os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                           " intra_op_parallelism_threads=1").strip()

import gc  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import harness  # noqa: E402 -- first among the benchmark modules: one thread everywhere
import real_specs  # noqa: E402

NAME = "real"
MODELS = ("resnet50", "bert")
MODES = ("eval", "train")
PATHS = ("eager", "compiled")
TARGETS = {("eval", "eager"): 1.10, ("eval", "compiled"): 1.05,
           ("train", "eager"): 1.10, ("train", "compiled"): 1.10}
BACKENDS = (*harness.FRAMEWORKS, "jax")


def add_arguments(parser: Any) -> None:
    parser.set_defaults(backends=",".join(BACKENDS), rounds=3)
    parser.add_argument("--models", default=",".join(MODELS),
                        help="comma-separated models among " + ",".join(MODELS))
    parser.add_argument("--modes", default=",".join(MODES),
                        help="comma-separated modes among " + ",".join(MODES))
    parser.add_argument("--paths", default=",".join(PATHS),
                        help="comma-separated paths among " + ",".join(PATHS))
    parser.add_argument("--image", type=int, default=64, help="ResNet image side (pixels)")
    parser.add_argument("--bert-layers", type=int, default=2, help="encoder layers")
    parser.add_argument("--no-torch-compile", action="store_true",
                        help="leave out torch.compile (it takes a minute or more per model)")
    parser.add_argument("--torch-compile-all-batches", action="store_true",
                        help="torch.compile at every batch (default: the first batch of each "
                        "model only, to keep the default run under 10 minutes)")


# -- timing ---------------------------------------------------------------------------------------
def compare(candidates: dict[str, Any], rounds: int, target_s: float) -> dict[str, float]:
    """Best (min) seconds per call over ``rounds`` alternating rounds and the second
    warm-up call (compilation happens in the first); slow calls (most here) run once a
    round."""
    calls, best = {}, {}
    for name, fn in candidates.items():
        fn()
        start = time.perf_counter()
        fn()
        best[name] = time.perf_counter() - start  # a warm call: it counts (calls take seconds)
        calls[name] = max(1, min(50, int(target_s / max(best[name], 1e-6))))
    gc.collect()
    gc.disable()
    try:
        for _ in range(rounds):
            for name, fn in candidates.items():
                best[name] = min(best[name], harness.time_calls(fn, calls[name]))
    finally:
        gc.enable()
    return best


# -- the run ---------------------------------------------------------------------------------------
def _row(model: str, batch: int, backend: str, mode: str, path: str, label: dict,
         t: dict[str, float] | None, note: str = "") -> dict[str, Any]:
    row = {"model": model, "batch": batch, "backend": backend, "mode": mode, "path": path,
           "native": label.get("native", ""), "checked": label.get("checked", False),
           "ms_native": None, "ms_polymod": None, "ratio": None,
           "target": TARGETS[(mode, path)], "status": "n/a", "note": note}
    if t is not None:
        row.update(ms_native=round(t["native"] * 1e3, 3), ms_polymod=round(t["polymod"] * 1e3, 3),
                   ratio=round(t["polymod"] / t["native"], 3))
        row["status"] = "PASS" if row["ratio"] <= row["target"] else "OVER"
        for key, name in label.get("also", {}).items():  # the framework's other model
            if key in t:
                row[f"ms_{key}"] = round(t[key] * 1e3, 3)
                row[f"ratio_vs_{key}"] = round(t["polymod"] / t[key], 3)
                row["note"] = "; ".join(filter(None, [
                    row["note"], f"{name} {row[f'ms_{key}']:.2f} ms: polymod / that "
                                 f"{row[f'ratio_vs_{key}']:.3f}"]))
    return row


def format_row(r: dict[str, Any]) -> str:
    def cell(v, spec):
        return format(v, spec) if v is not None else f"{'-':>{spec[1:].split('.')[0]}}"
    return (f"{r['model']:<9} {r['batch']:>3} {r['backend']:<6} {r['mode']:<5} {r['path']:<8} "
            f"{cell(r['ms_native'], '>10.2f')} {cell(r['ms_polymod'], '>10.2f')} "
            f"{cell(r['ratio'], '>6.3f')} {r['target']:>5.2f} {r['status']:<5} "
            f"{r['native']}{' (checked)' if r['checked'] else ''}{'; ' + r['note'] if r['note'] else ''}")


HEADER = (f"{'model':<9} {'bat':>3} {'backend':<6} {'mode':<5} {'path':<8} {'native ms':>10} "
          f"{'polymod ms':>10} {'ratio':>6} {'targ':>5} {'stat':<5} native model")


def run(ctx: harness.Context) -> dict[str, Any]:
    import polymod as pm

    args = ctx.args
    wanted = [pm.registry.canonical_name(b) for b in args.backends.split(",") if b.strip()]
    backends = [b for b in BACKENDS if b in wanted and b in ctx.installed]
    if "jax" in backends:
        pm.registry.adapter("jax")
    models = [m for m in args.models.split(",") if m]
    modes = [m for m in args.modes.split(",") if m]
    paths = [p for p in args.paths.split(",") if p]
    sizes = real_specs.sizes(ctx.quick, args.image, args.bert_layers)
    config = {"sizes": sizes, "backends": backends, "rounds": ctx.rounds, "targets":
              {f"{m} {p}": v for (m, p), v in TARGETS.items()},
              "torch_compile": not (ctx.quick or args.no_torch_compile)}
    ctx.log(f"\nreal models, polymod / the framework's own: {config}")
    ctx.log(HEADER)
    rows: list[dict] = []
    target_s = 0.02 if ctx.quick else 0.3
    for model in models:
        for batch in sizes[model]["batches"]:
            for backend in backends:
                spec = real_specs.build(model, backend, batch, sizes[model])
                for path in paths:
                    for mode in modes:
                        if path == "compiled" and backend == "torch" and not (
                                config["torch_compile"] and (
                                    args.torch_compile_all_batches
                                    or batch == sizes[model]["batches"][0])):
                            continue
                        cands, note = spec.candidates(mode, path)
                        t = compare(cands, ctx.rounds, target_s) if cands else None
                        row = _row(model, batch, backend, mode, path, spec.label, t, note)
                        rows.append(row)
                        ctx.log(format_row(row))
                del spec
                gc.collect()
    over = [r for r in rows if r["status"] == "OVER"]
    ctx.log(f"{sum(r['status'] == 'PASS' for r in rows)} PASS, {len(over)} OVER "
            f"(one run on this machine: noisy)")
    return {"real_models": {"config": config, "rows": rows}}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
