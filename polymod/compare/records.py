"""``compare``: one model on the NumPy reference and on each framework, judged leaf by leaf.

Outputs are compared with the NumPy reference (or, if the reference fails, with the
first framework that ran); gradients are compared across the frameworks, with the
first framework whose outputs agree. When a leaf is beyond ``rtol`` of its scale,
the reference runs once more, nudged by one rounding at every submodule, to
measure the noise of that model at that point (see ``tolerance``). When outputs
still disagree, the runs are repeated with the instrument on to name the first
submodule, in order of completion, whose output diverges (``trace=True`` records
it from the start and compares every submodule's output).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .. import registry
from ..dtypes import float_dtype, is_float
from .leaves import as_data
from .running import Run, run_backend
from .tolerance import GRAD_NOISE_FACTOR, GRAD_SCALE_FLOOR, default_rtol, difference, scale_of

MODES = ("eval", "train")


@dataclass
class Record:
    """One model on one backend (one record of ``polymod compare --json``).

    Differences are ``max_abs_diff`` (largest ``|a - b|``) and ``max_rel_diff``
    (that divided by the leaf's scale, its largest ``|reference|``), the largest
    over the output leaves (``outputs`` has them per leaf) or over the parameters.
    """

    model: str
    backend: str
    mode: str = "eval"
    reference: str | None = None  # whose outputs these were compared with (None: the reference)
    output_shape: list[int] | None = None  # of the first output leaf
    outputs: list[dict] = field(default_factory=list)  # per leaf: name, shape, dtype, diffs, ok
    max_abs_diff: float | None = None
    max_rel_diff: float | None = None
    grad_reference: str | None = None  # whose gradients these were compared with
    grad_max_abs_diff: float | None = None
    grad_max_rel_diff: float | None = None
    grad_failures: list[dict] = field(default_factory=list)  # parameter, diffs, limit
    us_per_call: float | None = None
    seconds: float | None = None  # wall time of this backend's run
    ok: bool = True
    error: str | None = None
    first_divergence: str | None = None  # module path; '' = the whole model
    divergence: dict | None = None  # event, module, max_abs_diff, max_rel_diff, limit
    trace: list[dict] | None = None  # per submodule output: event, module, diffs, ok
    _run: Any = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        """The record as a plain dict (JSON-ready), without the private arrays."""
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def compare(factory: Callable[[], Any], inputs: Any = (), kwinputs: dict | None = None, *,
            backends: Sequence[str] | None = None, name: str = "model", mode: str = "eval",
            rtol: float | None = None, atol: float | None = None, grads: bool = True,
            trace: bool = False, seed: int = 0, timing: bool = False,
            timeout: float | None = None,
            progress: Callable[[str, bool], None] | None = None,
            dtype: Any = None) -> list[Record]:
    """Runs ``factory()`` on the NumPy reference and on ``backends``; one ``Record`` each.

    Args:
        factory: zero-argument callable returning a polymod Module (called once per backend,
            after seeding, so each starts from the same weights).
        inputs: positional inputs (a tuple; one array alone is taken as one input). NumPy
            arrays of any dtype: floats become the model's dtype, integer and bool arrays
            integer and bool tensors; other backends' tensors are taken as NumPy data;
            nests of tuples, lists and dicts are walked; other values are passed as they are.
        kwinputs: keyword inputs, the same way.
        backends: frameworks to compare (default: every installed one); ``numpy`` always
            runs as the reference.
        mode: ``"eval"`` (dropout off, BatchNorm running statistics) or ``"train"``.
        rtol, atol: tolerances (default: by the output dtype; see ``tolerance``).
        dtype: run the model in this dtype ("float16", "bfloat16", "float64"): the same
            weights drawn, then cast (``Module.to(dtype=...)``) on every backend, the
            reference included. Without ``backends``, the frameworks that cannot compute
            it on the CPU are left out (MXNet float16/bfloat16, JAX float64 without x64).
        grads: compare the gradients of ``sum(leaf * R)`` per parameter across frameworks.
        trace: record and compare every submodule's output; ``Record.trace`` gets them.
        seed: seed of the weights and of the random draws during the forward pass.
        timing: measure microseconds per forward call.
        timeout: seconds one backend may take for this model.
        progress: called as ``progress(message, main)`` before each run (``main`` False for
            the extra runs: the noise estimate, tracing a disagreement).

    Example:
        >>> import numpy as np
        >>> from polymod import nn
        >>> from polymod.compare import compare
        >>> X = np.random.default_rng(0).random((2, 5), dtype=np.float32)
        >>> records = compare(lambda: nn.Linear(5, 3), X, backends=["torch"])
        >>> [(r.backend, r.ok, r.reference) for r in records]
        [('numpy', True, None), ('torch', True, 'numpy')]
    """
    if mode not in MODES:
        raise ValueError(f"compare expects mode 'eval' or 'train'; received mode={mode!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"compare expects a seed >= 0; received seed={seed!r}.")
    for flag, value in (("rtol", rtol), ("atol", atol), ("timeout", timeout)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"compare expects {flag} to be a finite number >= 0; received "
                             f"{flag}={value!r}.")
    if dtype is not None:
        factory, backends = in_dtype(factory, float_dtype(dtype, "compare's dtype"), backends)
    args = as_data((inputs,) if not isinstance(inputs, (tuple, list)) else tuple(inputs))
    kwargs = as_data(dict(kwinputs or {}))
    frameworks = _frameworks(backends)
    job = _Job(factory, args, kwargs, name, mode, seed, rtol, atol, timeout, progress)
    runs = {}
    for backend in [registry.REFERENCE, *frameworks]:
        job.say(f"{name} on {backend}", True)
        runs[backend] = run_backend(factory, args, kwargs, backend, seed=seed, mode=mode,
                                    grads=grads and backend != registry.REFERENCE, trace=trace,
                                    timing=timing, timeout=timeout)
    records = [Record(name, b, mode, error=run.error, ok=run.error is None, _run=run,
                      us_per_call=run.us_per_call, seconds=round(run.seconds, 3))
               for b, run in runs.items()]
    for record in records:
        outputs = record._run.outputs
        record.output_shape = list(outputs[0][1].shape) if outputs else None
    job.judge_outputs(records, trace)
    if grads:
        job.judge_grads(records)
    if not trace:
        job.locate(records)
    return records


def in_dtype(factory: Callable[[], Any], dtype: np.dtype,
             backends: Sequence[str] | None) -> tuple[Callable[[], Any], Any]:
    """The factory whose model is cast to ``dtype``, and the backends that compute it."""
    def made_in_dtype() -> Any:
        return factory().to(dtype=dtype)

    made_in_dtype.__qualname__ = getattr(factory, "__qualname__", "model")
    if backends is None:
        backends = [b for b in registry.available_backends()
                    if registry.adapter(b).dtype_problem(dtype) is None]
    return made_in_dtype, backends


def _frameworks(backends: Sequence[str] | None) -> list[str]:
    if isinstance(backends, str):
        backends = [b for b in backends.split(",") if b.strip()]
    names = registry.available_backends() if backends is None else backends
    chosen = []
    for b in names:
        canonical = registry.canonical_name(b)
        if canonical != registry.REFERENCE and canonical not in chosen:
            chosen.append(canonical)
    return chosen


class _Job:
    """The settings of one comparison and the extra runs it may need."""

    def __init__(self, factory: Callable[[], Any], args: tuple, kwargs: dict, name: str,
                 mode: str, seed: int, rtol: float | None, atol: float | None,
                 timeout: float | None, progress: Callable[[str, bool], None] | None):
        self.factory, self.args, self.kwargs = factory, args, kwargs
        self.name, self.mode, self.seed = name, mode, seed
        self.rtol, self.atol, self.timeout, self.progress = rtol, atol, timeout, progress
        self.reference: Record | None = None
        self.noise: Run | None = None

    def say(self, message: str, main: bool) -> None:
        if self.progress is not None:
            self.progress(message, main)

    def run(self, backend: str, why: str, **options: Any) -> Run:
        self.say(f"{self.name} on {backend} ({why})", False)
        return run_backend(self.factory, self.args, self.kwargs, backend, seed=self.seed,
                           mode=self.mode, timeout=self.timeout, **options)

    def tolerances(self, array: np.ndarray) -> tuple[float, float]:
        rtol = self.rtol if self.rtol is not None else default_rtol(array.dtype)
        return rtol, (self.atol if self.atol is not None else 0.0)

    # -- outputs ---------------------------------------------------------------------
    def judge_outputs(self, records: list[Record], trace: bool) -> None:
        reference = next((r for r in records if r.error is None), None)
        if reference is None:
            return
        self.reference = reference
        others = [r for r in records if r is not reference and r.error is None]
        for record in others:
            record.reference = reference.backend
        for attempt in ("floor", "noise"):
            failing = [r for r in others if not self._judge(r, reference, self.noise, trace)]
            if not failing or attempt == "noise" or not self._estimate_noise():
                break

    def _estimate_noise(self) -> bool:
        """The reference once more, nudged by one rounding per submodule (recorded); if that
        run fails, the differences are judged by ``rtol`` alone."""
        if self.noise is None:
            self.noise = self.run(self.reference.backend, "rounding-noise estimate",
                                  grads=False, trace=True, nudge=True)
        return not self.noise.error

    def locate(self, records: list[Record]) -> None:
        """Runs the disagreeing backends and the reference again with the instrument on,
        to name the first submodule whose output diverges (when ``trace`` was off)."""
        lost = [r for r in records if not r.ok and r.error is None and r.divergence is None
                and r is not self.reference]
        if not lost or self.reference is None or not self._estimate_noise():
            return
        traced = self.run(self.reference.backend, "tracing", grads=False, trace=True)
        for record in lost:
            mine = self.run(record.backend, "tracing", grads=False, trace=True)
            if traced.error is None and mine.error is None:
                record._run.events = mine.events
                self._events(record, traced, self.noise)
                record.trace = None  # only an asked-for trace goes to the JSON
                record.ok = False

    def _judge(self, record: Record, reference: Record, noise: Run | None, trace: bool) -> bool:
        leaves_ok = self._leaves(record, reference, noise)
        return self._events(record, reference._run, noise) and leaves_ok if trace else leaves_ok

    def _leaves(self, record: Record, reference: Record, noise: Run | None) -> bool:
        expected = dict(reference._run.outputs)
        nudged = dict(noise.outputs) if noise is not None else {}
        actual = dict(record._run.outputs)
        record.outputs, worst_abs, worst_rel, ok = [], 0.0, 0.0, True
        for name in [*expected, *(n for n in actual if n not in expected)]:
            a, b = actual.get(name), expected.get(name)
            entry: dict[str, Any] = {"name": name}
            if a is None or b is None:
                entry.update(ok=False, missing=reference.backend if b is None else record.backend)
                record.outputs.append(entry)
                ok = False
                continue
            rtol, atol = self.tolerances(b)
            diff = difference(a, b, rtol, atol, _noise(nudged.get(name), b))
            entry.update(shape=list(a.shape), dtype=str(a.dtype), max_abs_diff=diff.max_abs,
                         max_rel_diff=diff.rel, limit=diff.limit, ok=diff.ok)
            record.outputs.append(entry)
            worst_abs, worst_rel = max(worst_abs, diff.max_abs), max(worst_rel, diff.rel)
            ok = ok and diff.ok
        record.max_abs_diff, record.max_rel_diff = worst_abs, worst_rel
        record.ok = ok
        if not ok and record.first_divergence is None:
            record.first_divergence = ""
        return ok

    def _events(self, record: Record, reference: Run, noise: Run | None) -> bool:
        mine = dict(record._run.events or [])
        nudged = dict(noise.events or []) if noise is not None else {}
        record.trace, first = [], None
        for event, expected in reference.events or []:
            actual = mine.get(event)
            if actual is None:
                continue
            rtol, atol = self.tolerances(expected)
            diff = difference(actual, expected, rtol, atol, _noise(nudged.get(event), expected))
            entry = {"event": event.label, "module": event.module, "max_abs_diff": diff.max_abs,
                     "max_rel_diff": diff.rel, "limit": diff.limit,
                     "rel_limit": diff.limit / diff.scale if diff.scale else None,
                     "ok": diff.ok}
            record.trace.append(entry)
            if not diff.ok and first is None:
                first = entry
        if first is not None:
            record.ok = False
            record.first_divergence = first["module"]
            record.divergence = {k: first[k] for k in ("event", "module", "max_abs_diff",
                                                       "max_rel_diff", "limit")}
        elif record.ok:
            record.first_divergence, record.divergence = None, None
        return first is None

    # -- gradients -------------------------------------------------------------------
    def judge_grads(self, records: list[Record]) -> None:
        with_grads = [r for r in records if r.error is None and r._run.grads]
        if len(with_grads) < 2:
            return
        reference = next((r for r in with_grads if r.ok), with_grads[0])
        noise: dict[str, float] | None = None
        for attempt in ("floor", "noise"):
            failing = [r for r in with_grads
                       if r is not reference and not self._grads(r, reference, noise)]
            if not failing or attempt == "noise":
                break
            run = self.run(reference.backend, "rounding-noise estimate of the gradients",
                           grads=True, nudge=True)
            if run.error:
                break
            noise = {k: _noise(v, reference._run.grads.get(k)) for k, v in run.grads.items()}
        for record in failing:
            record.ok = False

    def _grads(self, record: Record, reference: Record, noise: dict[str, float] | None
               ) -> bool:
        record.grad_reference = reference.backend
        expected, actual = reference._run.grads, record._run.grads
        floor = GRAD_SCALE_FLOOR * max((scale_of(g) for g in expected.values()), default=0.0)
        record.grad_failures, worst_abs, worst_rel = [], 0.0, 0.0
        for key in [*expected, *(k for k in actual if k not in expected)]:
            a, b = actual.get(key), expected.get(key)
            if a is None or b is None:
                record.grad_failures.append({"parameter": key, "max_abs_diff": None,
                                             "max_rel_diff": None, "limit": None,
                                             "missing": reference.backend if b is None
                                             else record.backend})
                continue
            rtol, atol = self.tolerances(b)
            diff = difference(a, b, rtol, atol, (noise or {}).get(key, 0.0), GRAD_NOISE_FACTOR,
                              floor)
            worst_abs, worst_rel = max(worst_abs, diff.max_abs), max(worst_rel, diff.rel)
            if not diff.ok:
                record.grad_failures.append({"parameter": key, "max_abs_diff": diff.max_abs,
                                             "max_rel_diff": diff.rel, "limit": diff.limit})
        record.grad_max_abs_diff, record.grad_max_rel_diff = worst_abs, worst_rel
        record.grad_failures.sort(key=lambda f: -(f["max_rel_diff"] or math.inf))
        return not record.grad_failures


def _noise(nudged: np.ndarray | None, clean: np.ndarray | None) -> float:
    """Largest change one rounding per submodule made to a leaf (0 if unknown)."""
    if nudged is None or clean is None or nudged.shape != clean.shape \
            or not (clean.dtype.kind == "c" or is_float(clean.dtype)):
        return 0.0
    delta = np.abs(nudged.astype(np.float64) - clean.astype(np.float64))
    delta = delta[np.isfinite(delta)]
    return float(delta.max()) if delta.size else 0.0
