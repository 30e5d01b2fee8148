"""One model on one backend: build from the seed, run the inputs, take the numbers home.

The steps, the same on every backend so that every backend draws the same random
numbers in the same order:

1. ``pm.seed(seed)``, ``factory()``, bind to the backend (the initial weights);
2. lazy shapes materialised by one call in eval mode, before anything random;
3. the mode set (``eval``: dropout off, BatchNorm running statistics; ``train``);
4. ``pm.seed(seed + 1)`` and the forward pass (dropout masks come from here);
5. on frameworks, ``pm.seed(seed + 1)`` again and the gradients of
   ``sum(leaf * R)`` over the float output leaves, ``R`` a fixed random array per
   leaf (standard normal from ``(seed, leaf index)``): ``sum(output)`` alone is
   blind after a LayerNorm or a softmax, whose outputs sum to a constant;
6. optionally the time per forward call.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import ops, registry, selection
from ..autograd import value_and_grad
from ..dtypes import is_float
from ..module import Module
from ..random import seed as _seed
from .instrument import Event, Recorder, Timeout, deadline, watching
from .leaves import map_leaves, named_leaves, tensor_array


@dataclass
class Run:
    """What one run brought back (NumPy copies), or the error that stopped it."""

    backend: str
    outputs: list[tuple[str, np.ndarray]] = field(default_factory=list)
    events: list[tuple[Event, np.ndarray]] | None = None
    grads: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None
    us_per_call: float | None = None
    seconds: float = 0.0


def probe_weights(seed: int, index: int, shape: tuple, dtype: Any) -> np.ndarray:
    """The fixed random ``R`` of output leaf ``index``: gradients are those of sum(leaf * R)."""
    rng = np.random.default_rng([seed, index, 0x6A7D])
    return rng.standard_normal(shape).astype(dtype)


def _float_dtype(net: Module) -> np.dtype:
    for _, handle in net.named_parameters():
        if is_float(np.dtype(handle.dtype)):
            return np.dtype(handle.dtype)
    return np.dtype("float32")


def _lazy(net: Module) -> bool:
    handles = [*net.named_parameters(), *net.named_buffers()]
    return any(not h.materialized for _, h in handles)


def run_backend(factory: Callable[[], Any], args: tuple, kwargs: dict, backend: str, *,
                seed: int = 0, mode: str = "eval", grads: bool = True, trace: bool = False,
                nudge: bool = False, timing: bool = False, timeout: float | None = None
                ) -> Run:
    """Builds ``factory()`` on ``backend`` and runs it on ``args``/``kwargs`` (NumPy data).

    ``trace`` records every submodule's output; ``nudge`` multiplies each by one
    rounding (the noise estimate). Failures, ``sys.exit`` in the model and a
    ``timeout`` (seconds) become ``Run.error``; nothing is raised.
    """
    run = Run(backend)
    step = "building the model"
    start = time.perf_counter()
    try:
        with deadline(timeout):
            adapter = registry.adapter(backend)
            with selection.use_backend(backend):
                _seed(seed)
                net = factory()
                if not isinstance(net, Module):
                    raise TypeError(f"the factory returned a {type(net).__qualname__}; expected "
                                    f"a polymod Module")
                net = net.to(backend)
                dtype = _float_dtype(net)

                def native(value: Any) -> Any:
                    if not isinstance(value, np.ndarray):
                        return value
                    if is_float(value.dtype) and value.dtype != dtype:
                        value = value.astype(dtype)
                    return adapter.from_numpy(value)

                xs, kws = map_leaves(tuple(args), native), map_leaves(dict(kwargs), native)
                step = "the first call"
                if _lazy(net):
                    with adapter.no_grad():
                        net.eval()(*xs, **kws)
                net.train(mode == "train")
                step = "forward"
                recorder = Recorder(record=trace, nudge_seed=seed if nudge else None)
                watch = watching(net, recorder) if trace or nudge else contextlib.nullcontext()
                _seed(seed + 1)
                with adapter.no_grad(), watch:
                    out = net(*xs, **kws)
                run.outputs = [(name, array) for name, leaf in named_leaves(out)
                               if (array := tensor_array(leaf)) is not None]
                run.events = recorder.events if trace else None
                if grads and backend in registry.FRAMEWORKS:
                    step = "gradients"
                    watch = watching(net, Recorder(False, seed)) if nudge \
                        else contextlib.nullcontext()
                    _seed(seed + 1)
                    with watch:
                        _, gradients = value_and_grad(_probe_loss(seed))(net, *xs, **kws)
                    run.grads = {k: adapter.to_numpy(v) for k, v in gradients.items()}
                if timing:
                    step = "timing"
                    run.us_per_call = _time_call(net, xs, kws, adapter)
    except Timeout:
        run.error = f"TimeoutError: stopped after {timeout:g} s (during {step})"
    except (Exception, SystemExit) as err:  # reported in the record, never hidden
        kind = type(err).__name__
        if isinstance(err, SystemExit):
            run.error = f"SystemExit: the model called sys.exit({err.code!r}) (during {step})"
        else:
            run.error = f"{kind}: {err}" + ("" if step == "forward" else f" (during {step})")
    run.seconds = time.perf_counter() - start
    if timeout and run.error is None and run.seconds > timeout:  # no signal available
        run.error = f"TimeoutError: took {run.seconds:.1f} s, over the {timeout:g} s allowed"
    return run


def _probe_loss(seed: int) -> Callable[..., Any]:
    def loss(net: Module, *args: Any, **kwargs: Any) -> Any:
        total = None
        for index, (_, leaf) in enumerate(named_leaves(net(*args, **kwargs))):
            try:
                adapter = registry.adapter_of(leaf)
            except Exception:
                continue
            dtype = adapter.dtype_of(leaf)
            if not is_float(dtype):
                continue
            probe = adapter.from_numpy(probe_weights(seed, index, tuple(adapter.shape(leaf)),
                                                     dtype))
            term = ops.sum(leaf * probe)
            total = term if total is None else total + term
        if total is None:
            raise TypeError("the model returned no float tensor to differentiate; compare it "
                            "with grads=False (--no-grads)")
        return total

    return loss


def _time_call(net: Module, args: tuple, kwargs: dict, adapter: Any,
               budget_s: float = 0.2) -> float:
    """Microseconds per forward call (outputs copied out, so asynchronous engines finish)."""
    calls, start = 0, time.perf_counter()
    with adapter.no_grad():
        while True:
            for _, leaf in named_leaves(net(*args, **kwargs)):
                tensor_array(leaf)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed > budget_s or calls >= 1000:
                return elapsed / calls * 1e6
