"""How closely the backends agree in float16, bfloat16 and float64 (and float32 for
comparison): the chapter MLP, ResNet-18 and BERT, through ``polymod.compare``.

    python benchmarks/dtype_agreement.py [--models mlp,resnet18,bert] [--quick]

Prints one row per model, dtype and backend: the largest output difference from the
NumPy reference relative to the output's scale, the largest relative gradient difference
from the first framework, and whether the default tolerance of that dtype passed.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")

import polymod as pm  # noqa: E402
from polymod.compare import compare  # noqa: E402
from polymod.compare.tolerance import default_rtol  # noqa: E402
from polymod.examples import bert, chapter, resnet  # noqa: E402


def models(quick: bool) -> dict:
    size, length = (32, 8) if quick else (64, 16)
    rng = np.random.default_rng(0)
    return {"mlp": (chapter.MLP, (rng.random((2, 20)),), {}),
            "resnet18": (lambda: resnet.resnet18(num_classes=10),
                         (rng.random((2, 3, size, size)),), {}),
            "bert": (bert.BertModel, (), bert.bert_inputs(2, length))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="mlp,resnet18,bert")
    parser.add_argument("--dtypes", default="float32,float16,bfloat16,float64")
    parser.add_argument("--backends", default=None)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    table = models(options.quick)
    backends = options.backends.split(",") if options.backends else None
    print(f"{'model':9} {'dtype':9} {'backend':8} {'out rel':>9} {'grad rel':>9} "
          f"{'rtol':>7} {'ok':>3} {'s':>6}")
    for name in options.models.split(","):
        factory, args, kwargs = table[name]
        for dtype in options.dtypes.split(","):
            start = time.perf_counter()
            records = compare(factory, args, kwargs, backends=backends, dtype=dtype,
                              name=name)
            seconds = time.perf_counter() - start
            for r in records[1:]:
                out = "error" if r.error else f"{r.max_rel_diff or 0:.2e}"
                grad = f"{r.grad_max_rel_diff:.2e}" if r.grad_max_rel_diff is not None else "-"
                print(f"{name:9} {dtype:9} {r.backend:8} {out:>9} {grad:>9} "
                      f"{default_rtol(pm.float_dtype(dtype)):7.0e} {'yes' if r.ok else 'NO':>3} "
                      f"{seconds:6.1f}" + (f"  {r.error[:100]}" if r.error else ""), flush=True)


if __name__ == "__main__":
    main()
