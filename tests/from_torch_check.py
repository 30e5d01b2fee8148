"""The check every ``pm.from_torch`` coverage test runs: the torch original is the oracle.

For a torch module and example inputs: convert once, then on every installed backend
(a fresh copy each) compare the outputs with the original's in eval mode and in train
mode (BatchNorm's batch statistics, and the running statistics it leaves behind), and
on the frameworks the gradients of ``sum(out * R)`` (a fixed random ``R`` per output
leaf) with respect to every parameter, against torch's autograd on the original.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import polymod as pm
from polymod import registry

RTOL = 2e-4
ATOL = 2e-5


def convert_or_skip(module: torch.nn.Module, *inputs: torch.Tensor, **options):
    """``pm.from_torch``; a skip naming the missing polymod ops when only they are missing
    (the converter reports an op that polymod has not added yet as unsupported)."""
    try:
        return pm.from_torch(module, *inputs, **options)
    except pm.UnsupportedError as err:
        missing = sorted({line.rsplit(": ", 1)[-1] for line in err.nodes})
        if err.nodes and all(m.startswith("polymod.") and m.endswith(" yet") for m in missing):
            pytest.skip("waiting for polymod ops/layers: " + "; ".join(missing))
        raise


def leaves(value, prefix="out"):
    """``[(name, leaf)]`` of an output nest (tuples, lists, dicts; ModelOutput is a dict)."""
    if isinstance(value, dict) or hasattr(value, "to_tuple"):
        return [item for k, v in dict(value).items() for item in leaves(v, f"{prefix}[{k!r}]")]
    if isinstance(value, (tuple, list)):
        return [item for i, v in enumerate(value) for item in leaves(v, f"{prefix}[{i}]")]
    return [(prefix, value)]


def _numpy(value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return pm.to_numpy(value)


def _close(actual, expected, what: str, rtol: float = RTOL, atol: float = ATOL) -> None:
    a, e = _numpy(actual).astype(np.float64), _numpy(expected).astype(np.float64)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, torch {e.shape}"
    scale = max(float(np.abs(e).max()) if e.size else 0.0, 1.0)
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol * scale, err_msg=what)


def _on(backend: str, inputs: tuple) -> tuple:
    return tuple(pm.asarray(x.numpy(), backend=backend) for x in inputs)


def check_against_torch(module: torch.nn.Module, *inputs: torch.Tensor,
                        backends=None, grads: bool = True, train: bool = True,
                        rtol: float = RTOL, atol: float = ATOL, train_atol: float | None = None,
                        **options):
    """Converts ``module`` and checks every backend against it; returns the converted model.

    ``atol`` is relative to each output's scale (its largest magnitude, at least 1);
    ``train_atol`` (default ``atol``) applies to the train-mode outputs. ``options`` go
    to ``pm.from_torch`` (``tracer=``, ``leaves=``).
    """
    backends = backends or pm.available_backends()
    original = copy.deepcopy(module).eval()
    net = convert_or_skip(original, *inputs, **options).eval()
    assert list(net.state_dict(include_constants=False)) == list(original.state_dict())
    with torch.no_grad():
        expected = leaves(original(*inputs))
    for backend in backends:
        got = leaves(net.unbound_copy().to(backend).eval()(*_on(backend, inputs)))
        assert [n for n, _ in got] == [n for n, _ in expected]
        for (name, value), (_, want) in zip(got, expected, strict=True):
            _close(value, want, f"eval {name} on {backend}", rtol, atol)
    if train:
        _check_train(original, net, inputs, backends, rtol,
                     atol if train_atol is None else train_atol)
    if grads:
        _check_grads(original, net, inputs, [b for b in backends if b in registry.FRAMEWORKS],
                     rtol, atol)
    return net


def _check_train(original, net, inputs, backends, rtol, atol) -> None:
    trained = copy.deepcopy(original).train()
    with torch.no_grad():
        expected = leaves(trained(*inputs))
    state = trained.state_dict()
    for backend in backends:
        model = net.unbound_copy().to(backend).train()
        got = leaves(model(*_on(backend, inputs)))
        for (name, value), (_, want) in zip(got, expected, strict=True):
            _close(value, want, f"train {name} on {backend}", rtol, atol)
        after = model.state_dict(include_constants=False)
        for key, value in state.items():  # BatchNorm's running statistics moved the same way
            _close(after[key], value, f"{key} after a training step on {backend}", rtol, atol)


def _weights(outputs, seed: int = 1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(_numpy(v).shape).astype(np.float32) for _, v in outputs]


def _check_grads(original, net, inputs, backends, rtol, atol) -> None:
    model = copy.deepcopy(original).eval()
    outputs = leaves(model(*inputs))
    weights = _weights(outputs)
    loss = sum((value * torch.from_numpy(w)).sum() for (_, value), w in zip(
        outputs, weights, strict=True) if value.is_floating_point())
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    torch_grads = dict(zip(names, torch.autograd.grad(
        loss, [p for _, p in model.named_parameters() if p.requires_grad], allow_unused=True),
        strict=True))
    for backend in backends:
        adapter = registry.adapter(backend)
        bound = net.unbound_copy().to(backend).eval()
        arrays = [adapter.from_numpy(w) for w in weights]

        def loss_fn(m, arrays, kind, *xs):
            got = leaves(m(*xs))
            return sum(pm.ops.sum(v * w) for (_, v), w in zip(got, arrays, strict=True)
                       if kind(v) == "f")

        _, grads = pm.value_and_grad(loss_fn)(bound, arrays, _kind_of(adapter),
                                              *_on(backend, inputs))
        for name, want in torch_grads.items():
            if want is None:
                continue
            _close(grads[name], want, f"gradient of {name} on {backend}", rtol * 5, atol * 5)


def _kind_of(adapter):
    return lambda v: adapter.dtype_of(v).kind
