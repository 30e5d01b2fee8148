"""GroupNorm, InstanceNorm1d/2d and the norm ops against torch on every backend: outputs,
gradients, running statistics after a training step, odd inputs alike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_same_numbers
from layer_check import check_layer, torch_state
from op_check import check_op

import polymod as pm
from polymod import nn, ops

RNG = np.random.RandomState(0)
X4 = (RNG.randn(3, 4, 5, 6) * 2 + 1).astype(np.float32)
X3 = (RNG.randn(3, 4, 7) - 0.5).astype(np.float32)
TN = torch.nn

NORMS = {
    "group2": (lambda: nn.GroupNorm(2, 4), lambda: TN.GroupNorm(2, 4), X4),
    "group4_eps": (lambda: nn.GroupNorm(4, 4, eps=1e-3), lambda: TN.GroupNorm(4, 4, eps=1e-3),
                   X4),
    "group1_3d": (lambda: nn.GroupNorm(1, 4), lambda: TN.GroupNorm(1, 4), X3),
    "group_plain": (lambda: nn.GroupNorm(2, 4, affine=False),
                    lambda: TN.GroupNorm(2, 4, affine=False), X3),
    "instance2d": (lambda: nn.InstanceNorm2d(4), lambda: TN.InstanceNorm2d(4), X4),
    "instance2d_affine": (lambda: nn.InstanceNorm2d(4, affine=True),
                          lambda: TN.InstanceNorm2d(4, affine=True), X4),
    "instance2d_stats": (lambda: nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
                         lambda: TN.InstanceNorm2d(4, affine=True, track_running_stats=True),
                         X4),
    "instance1d": (lambda: nn.InstanceNorm1d(4, eps=1e-3), lambda: TN.InstanceNorm1d(4, eps=1e-3),
                   X3),
    "instance1d_stats": (lambda: nn.InstanceNorm1d(4, momentum=0.3, track_running_stats=True),
                         lambda: TN.InstanceNorm1d(4, momentum=0.3, track_running_stats=True),
                         X3),
    "instance1d_unbatched": (lambda: nn.InstanceNorm1d(4, affine=True),
                             lambda: TN.InstanceNorm1d(4, affine=True), X3[0]),
    "instance_no_momentum": (lambda: nn.InstanceNorm2d(4, momentum=None,
                                                       track_running_stats=True),
                             lambda: TN.InstanceNorm2d(4, momentum=None,
                                                       track_running_stats=True), X4),
}


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("config", sorted(NORMS))
def test_norm_matches_torch(backend, config, train):
    ours, theirs, x = NORMS[config]
    check_layer(ours, theirs, x, backend, train=train, rtol=1e-4, atol=1e-5)


def test_instance_norm_eval_uses_loaded_running_statistics(backend):
    twin = TN.InstanceNorm2d(4, affine=True, track_running_stats=True)
    with torch.no_grad():
        twin.running_mean.copy_(torch.tensor([0.5, -1.0, 2.0, 0.0]))
        twin.running_var.copy_(torch.tensor([2.0, 0.5, 3.0, 1.0]))
        twin.weight.copy_(torch.tensor([1.5, 0.5, -1.0, 2.0]))
    twin.eval()
    norm = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
    norm.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()}, strict=True)
    out = norm.eval()(pm.asarray(X4))
    assert_same_numbers(out, twin(torch.from_numpy(X4)).detach(), rtol=1e-5, atol=1e-6)


def test_functional_norms_match_torch(backend):
    w, b = RNG.randn(4).astype(np.float32), RNG.randn(4).astype(np.float32)
    check_op(lambda x, w, b: ops.group_norm(x, 2, w, b, eps=1e-4),
             lambda x, w, b: F.group_norm(x, 2, w, b, eps=1e-4), [X4, w, b], backend,
             rtol=1e-4, atol=1e-5)
    check_op(lambda x, w, b: ops.instance_norm(x, weight=w, bias=b),
             lambda x, w, b: F.instance_norm(x, weight=w, bias=b), [X3, w, b], backend,
             rtol=1e-4, atol=1e-5)
    w2, b2 = RNG.randn(5, 6).astype(np.float32), RNG.randn(5, 6).astype(np.float32)
    check_op(lambda x, w, b: ops.layer_norm(x, (5, 6), w, b),
             lambda x, w, b: F.layer_norm(x, (5, 6), w, b), [X4, w2, b2], backend,
             rtol=1e-4, atol=1e-5)
    check_op(lambda x: ops.layer_norm(x, 7), lambda x: F.layer_norm(x, (7,)), [X3], backend,
             rtol=1e-4, atol=1e-5)


def test_norms_keep_nan_in_their_group_and_take_empty_batches(backend):
    x = X4.copy()
    x[0, 1, 2, 3] = np.nan
    check_op(lambda x: ops.group_norm(x, 2), lambda x: F.group_norm(x, 2), [x], backend,
             grads=False, rtol=1e-4, atol=1e-5)
    check_op(lambda x: ops.instance_norm(x), lambda x: F.instance_norm(x), [x], backend,
             grads=False, rtol=1e-4, atol=1e-5)
    for layer in (nn.GroupNorm(2, 4), nn.InstanceNorm2d(4, affine=True)):
        assert pm.to_numpy(layer(pm.zeros(0, 4, 5, 6))).shape == (0, 4, 5, 6)


def test_norm_errors_name_the_problem():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="4 channels"):
        nn.GroupNorm(2, 4)(pm.rand(2, 6, 3, backend="numpy"))
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        nn.InstanceNorm2d(4)(pm.rand(2, 4, 1, 1, backend="numpy"))
    with pytest.raises(ValueError, match="3 or 4-D"):
        nn.InstanceNorm2d(4)(pm.rand(4, 5, backend="numpy"))
    with pytest.raises(ValueError, match="running_mean"):
        ops.instance_norm(pm.rand(2, 4, 3, backend="numpy"), use_input_stats=False)


def test_instance_norm_statistics_identical_across_backends_after_seeded_steps():
    states = {}
    for name in pm.available_backends():  # the installed ones
        norm = nn.InstanceNorm2d(4, track_running_stats=True).to(name)
        for _ in range(2):
            norm(pm.asarray(X4, backend=name))
        states[name] = norm.state_dict()
    twin = TN.InstanceNorm2d(4, track_running_stats=True)
    twin(torch.from_numpy(X4)), twin(torch.from_numpy(X4))
    for name, sd in states.items():
        for key, value in twin.state_dict().items():
            np.testing.assert_allclose(sd[key], value.numpy(), rtol=1e-5, atol=1e-6,
                                       err_msg=f"{name} {key}")
    assert repr(nn.InstanceNorm1d(3)) == ("InstanceNorm1d(3, eps=1e-05, momentum=0.1, "
                                          "affine=False, track_running_stats=False)")
    twin_sd = torch_state(states["numpy"])
    TN.InstanceNorm2d(4, track_running_stats=True).load_state_dict(twin_sd, strict=True)
