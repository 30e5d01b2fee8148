"""``import polymod`` over ``import numpy``, in fresh interpreters; no framework may load.

    python benchmarks/import_time.py --backends ""

Each run imports NumPy, then polymod, in a new process and asserts that polymod
loaded no framework; the run with the fastest polymod import is kept (2 runs with
``--quick``, else 7). Budget: 30 ms over NumPy.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import harness  # first: one thread everywhere

NAME = "import"
BUDGET_MS = 30

IMPORT_SCRIPT = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy
t1 = time.perf_counter()
import polymod
t2 = time.perf_counter()
loaded = sorted(m for m in ("torch", "tensorflow", "keras", "mxnet", "jax") if m in sys.modules)
assert not loaded, f"import polymod loaded {loaded}"
print(json.dumps({"numpy_ms": (t1 - t0) * 1e3, "polymod_ms": (t2 - t1) * 1e3}))
"""


def import_time(repeats: int) -> dict[str, Any]:
    runs = []
    env = {k: v for k, v in os.environ.items() if k != "POLYMOD_BACKEND"}
    for _ in range(repeats):
        run = harness.run_script(IMPORT_SCRIPT, env=env, timeout=120)
        if "error" in run:
            return run
        runs.append(run)
    best = min(runs, key=lambda r: r["polymod_ms"])
    return {"import_numpy_ms": round(min(r["numpy_ms"] for r in runs), 2),
            "import_polymod_over_numpy_ms": round(best["polymod_ms"], 2),
            "budget_ms": BUDGET_MS, "frameworks_loaded": [],
            "status": "PASS" if best["polymod_ms"] <= BUDGET_MS else "OVER"}


def run(ctx: harness.Context) -> dict[str, Any]:
    result = import_time(2 if ctx.quick else 7)
    ctx.log(f"\nimport polymod over import numpy: {result}")
    return {"import": result}


if __name__ == "__main__":
    sys.exit(harness.run_alone(sys.modules[__name__]))
