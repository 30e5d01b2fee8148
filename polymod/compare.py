"""Running one model definition on several backends and comparing the numbers.

The NumPy backend is the reference for outputs; gradients (of the sum of the
output) are compared between the frameworks, against the first one. While a
comparison runs, every submodule's ``forward`` is wrapped to record its output
(instrumentation is swapped in only then), so a disagreement can name the first
submodule, in order of completion, whose output diverges.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from . import ops, registry, selection
from .autograd import value_and_grad
from .module import Module
from .random import seed as _seed


@dataclass
class Record:
    """One model on one backend (the JSON schema of ``polymod compare --json``)."""

    model: str
    backend: str
    output_shape: list[int] | None = None
    max_abs_diff: float | None = None  # vs the NumPy reference output
    max_rel_diff: float | None = None
    grad_max_abs_diff: float | None = None  # vs the first framework's gradients
    us_per_call: float | None = None
    ok: bool = True
    error: str | None = None
    first_divergence: str | None = None  # dotted module path, '' = the whole model
    _outputs: list = field(default_factory=list, repr=False)
    _final: Any = field(default=None, repr=False)
    _grads: dict = field(default_factory=dict, repr=False)

    def public(self) -> dict[str, Any]:
        """The record as a plain dict, without the private arrays."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def _diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    same_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(a) & np.isinf(b) & (a == b)
    mask = ~(same_nan | same_inf)
    if (np.isnan(a) ^ np.isnan(b)).any():
        return float("inf"), float("inf")
    err = np.abs(a - b)[mask]
    if err.size == 0:
        return 0.0, 0.0
    rel = err / np.maximum(np.abs(b)[mask], 1e-30)
    return float(err.max()), float(rel.max())


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _record_outputs(net: Module, sink: list) -> Callable[[], None]:
    """Wraps every submodule's forward to append ``(path, numpy output)``; returns undo."""
    wrapped = []
    for path, module in net.named_modules():
        original = module.forward

        def recorder(*args: Any, _f: Any = original, _p: str = path, **kwargs: Any) -> Any:
            out = _f(*args, **kwargs)
            try:
                sink.append((_p, registry.adapter_of(out).to_numpy(out)))
            except Exception:  # a non-tensor output (tuple, dict) is not compared
                pass
            return out

        module.__dict__["forward"] = recorder
        wrapped.append(module)

    def undo() -> None:
        for module in wrapped:
            module.__dict__.pop("forward", None)

    return undo


def _time_call(net: Module, inputs: Sequence[Any], budget_s: float = 0.2) -> float:
    net(*inputs)
    calls, start = 0, time.perf_counter()
    while True:
        net(*inputs)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed > budget_s or calls >= 1000:
            return elapsed / calls * 1e6


def run_backend(factory: Callable[[], Module], inputs: Sequence[np.ndarray], name: str,
                backend: str, seed: int, grads: bool, timing: bool) -> Record:
    """Builds the model from ``seed`` on ``backend`` and records its numbers."""
    record = Record(model=name, backend=backend)
    try:
        adapter = registry.adapter(backend)
        _seed(seed)
        with selection.use_backend(backend):
            net = factory()
            native = [adapter.from_numpy(np.asarray(x)) for x in inputs]
            undo = _record_outputs(net, record._outputs)
            try:
                out = net(*native)
            finally:
                undo()
            record._final = adapter.to_numpy(out)
            record.output_shape = list(record._final.shape)
            if grads and backend != registry.REFERENCE:
                def loss(m: Module, *xs: Any) -> Any:
                    return ops.sum(m(*xs))

                _, gradients = value_and_grad(loss)(net, *native)
                record._grads = {k: adapter.to_numpy(v) for k, v in gradients.items()}
            if timing:
                record.us_per_call = _time_call(net, native)
    except Exception as err:  # reported in the table, never hidden
        record.ok = False
        record.error = f"{type(err).__name__}: {err}"
    return record


def compare(factory: Callable[[], Module], inputs: Sequence[Any], backends: Sequence[str] | None
            = None, name: str = "model", rtol: float = 2e-5, atol: float = 1e-6,
            grads: bool = True, seed: int = 0, timing: bool = False,
            progress: Callable[[str], None] | None = None) -> list[Record]:
    """Runs ``factory()`` on the NumPy reference and on ``backends``; returns one record each."""
    arrays = [np.asarray(registry.adapter_of(x).to_numpy(x)) if not isinstance(
        x, np.ndarray) else x for x in inputs]
    frameworks = [b for b in (backends or registry.available_backends())
                  if b != registry.REFERENCE]
    frameworks = [registry.canonical_name(b) for b in frameworks]
    records = []
    for backend in [registry.REFERENCE, *frameworks]:
        if progress is not None:
            progress(f"{name} on {backend}")
        records.append(run_backend(factory, arrays, name, backend, seed, grads, timing))
    reference = records[0]
    first_grads = next((r._grads for r in records[1:] if r._grads), None)
    for record in records[1:]:
        if not record.ok or not reference.ok:
            record.ok = record.ok and reference.ok
            continue
        record.max_abs_diff, record.max_rel_diff = _diff(record._final, reference._final)
        if not _close(record._final, reference._final, rtol, atol):
            record.ok = False
            record.first_divergence = _first_divergence(record, reference, rtol, atol)
        if grads and record._grads and first_grads:
            worst = 0.0
            for key, value in first_grads.items():
                mine = record._grads.get(key)
                if mine is None or not _close(mine, value, rtol * 10, atol * 10):
                    record.ok = False
                worst = max(worst, _diff(mine, value)[0] if mine is not None else np.inf)
            record.grad_max_abs_diff = worst
    return records


def _first_divergence(record: Record, reference: Record, rtol: float, atol: float) -> str:
    for (path, output), (_, expected) in zip(record._outputs, reference._outputs, strict=False):
        if not _close(output, expected, rtol, atol):
            return path
    return ""
