"""Optimizer and scheduler state: round trips, across backends, to and from torch.optim.

Optimizer state dicts are NumPy in torch.optim's layout: a run resumed from one
continues exactly on the same backend and to float32 rounding on another; a
``torch.optim`` state dict loads (matched by ``param_names``, or by position), and
polymod's loads into ``torch.optim``. Schedulers give torch's learning rates exactly and
exchange state dicts with torch's.
"""

from __future__ import annotations

import numpy as np
import pytest

import polymod as pm
from polymod import ops, registry
from polymod.examples.chapter import MLP

torch = pytest.importorskip("torch")
FRAMEWORKS = pytest.mark.backends(*registry.FRAMEWORKS)


def _data(step):
    rng = np.random.default_rng(step % 4)
    return rng.random((8, 20), dtype=np.float32), rng.integers(0, 10, 8)


def _loss(net, X, y):
    return ops.cross_entropy(net(X), y)


def _model(backend, seed=0):
    pm.seed(seed)
    net = MLP()
    net.initialize(pm.asarray(_data(0)[0], backend=backend))
    return net


def _train(net, opt, steps, start=0):
    step = pm.value_and_grad(_loss)
    backend = net.backend
    for i in range(start, start + steps):
        X, y = _data(i)
        _, grads = step(net, pm.asarray(X, backend=backend), pm.asarray(y, backend=backend))
        opt.step(grads)


OPTIMIZERS = {
    "sgd_momentum": lambda net: pm.optim.SGD(net, lr=0.05, momentum=0.9, nesterov=True),
    "adam_amsgrad": lambda net: pm.optim.Adam(net, lr=1e-3, amsgrad=True),
    "adamw_groups": lambda net: pm.optim.AdamW(net, lr=1e-3, param_groups=[
        {"params": ["hidden.bias", "out.bias"], "weight_decay": 0.0}, {}]),
    "rmsprop": lambda net: pm.optim.RMSprop(net, lr=1e-3, momentum=0.5, centered=True),
}


@FRAMEWORKS
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_resume_on_the_same_backend_is_bit_identical(backend, kind):
    net = _model(backend)
    opt = OPTIMIZERS[kind](net)
    _train(net, opt, 4)
    weights, state = net.state_dict(), opt.state_dict()
    _train(net, opt, 4, start=4)

    resumed = _model(backend, seed=1)  # other initial weights: all must come from the state
    resumed.load_state_dict(weights)
    resumed_opt = OPTIMIZERS[kind](resumed)
    resumed_opt.load_state_dict(state)
    _train(resumed, resumed_opt, 4, start=4)
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[name], value, err_msg=name)


@pytest.mark.parametrize("source", registry.FRAMEWORKS)
@pytest.mark.parametrize("kind", ["adam_amsgrad", "sgd_momentum"])
def test_resume_on_another_backend_agrees_to_float32_rounding(source, kind):
    target = {"torch": "keras", "keras": "gluon", "gluon": "torch"}[source]
    for name in (source, target):
        if not registry.is_installed(name):
            pytest.skip(f"{name} is not installed")
    net = _model(source)
    opt = OPTIMIZERS[kind](net)
    _train(net, opt, 4)
    state = opt.state_dict()
    moved = net.to(target)
    moved_opt = OPTIMIZERS[kind](moved)
    moved_opt.load_state_dict(state)
    _train(net, opt, 6, start=4)
    _train(moved, moved_opt, 6, start=4)
    for name, value in net.state_dict().items():
        np.testing.assert_allclose(moved.state_dict()[name], value, rtol=1e-4, atol=1e-6,
                                   err_msg=name)


def _torch_twin_of(net):
    """A hand-written torch MLP with ``net``'s weights (the chapter's torch listing)."""
    from conftest import torch_oracle

    return torch_oracle("MLP", net.state_dict())


@FRAMEWORKS
@pytest.mark.parametrize("named", [True, False])
def test_a_torch_optim_checkpoint_imports(backend, named):
    """torch.optim trains a torch model; its state dict continues in polymod."""
    net = _model(backend)
    reference = _torch_twin_of(net)
    params = reference.named_parameters() if named else reference.parameters()
    ref_opt = torch.optim.Adam(params, lr=1e-3, betas=(0.8, 0.99), weight_decay=0.01)
    for i in range(3):
        X, y = _data(i)
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(reference(torch.from_numpy(X)),
                                          torch.from_numpy(y)).backward()
        ref_opt.step()
    saved = ref_opt.state_dict()
    assert ("param_names" in saved["param_groups"][0]) is named
    net.load_state_dict({k: v.detach().numpy() for k, v in reference.state_dict().items()})
    opt = pm.optim.Adam(net)  # defaults differ: the hyperparameters come from the state
    opt.load_state_dict(saved)
    group = opt.param_groups[0]
    assert (group["betas"], group["weight_decay"]) == ((0.8, 0.99), 0.01)
    assert opt.state["hidden.weight"]["step"] == 3
    _train(net, opt, 5, start=3)  # polymod's gradients; torch continues with its own
    for i in range(3, 8):
        X, y = _data(i)
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(reference(torch.from_numpy(X)),
                                          torch.from_numpy(y)).backward()
        ref_opt.step()
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[name], value.numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=name)


@FRAMEWORKS
def test_polymods_state_dict_loads_into_torch_optim(backend):
    net = _model(backend)
    opt = pm.optim.SGD(net, lr=0.05, momentum=0.9)
    _train(net, opt, 3)
    state = opt.state_dict()
    reference = _torch_twin_of(net)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    ref_opt.load_state_dict({
        "state": {i: {k: torch.from_numpy(v) for k, v in s.items()}
                  for i, s in state["state"].items()},
        "param_groups": state["param_groups"]})
    _train(net, opt, 3, start=3)
    for i in range(3, 6):
        X, y = _data(i)
        ref_opt.zero_grad()
        torch.nn.functional.cross_entropy(reference(torch.from_numpy(X)),
                                          torch.from_numpy(y)).backward()
        ref_opt.step()
    for name, value in reference.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[name], value.numpy(), rtol=1e-4,
                                   atol=1e-6, err_msg=name)


def test_state_dict_layout_is_torchs():
    net = _model("torch")
    opt = OPTIMIZERS["adamw_groups"](net)
    _train(net, opt, 2)
    state = opt.state_dict()
    assert [g["param_names"] for g in state["param_groups"]] == [
        ["hidden.bias", "out.bias"], ["hidden.weight", "out.weight"]]
    assert [g["params"] for g in state["param_groups"]] == [[0, 1], [2, 3]]
    assert state["param_groups"][0]["weight_decay"] == 0.0
    assert set(state["state"][2]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["state"][2]["step"].dtype == np.float32 and state["state"][2]["step"] == 2
    assert isinstance(state["state"][2]["exp_avg"], np.ndarray)
    reference = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    assert set(reference.state_dict()["param_groups"][0]) <= set(state["param_groups"][0])


def test_a_bad_state_changes_nothing():
    net = _model("torch")
    opt = pm.optim.Adam(net)
    _train(net, opt, 1)
    good = opt.state_dict()
    before = {n: {k: pm.to_numpy(v) if k != "step" else v for k, v in s.items()}
              for n, s in opt.state.items()}

    def assert_unchanged():
        for name, state in opt.state.items():
            assert state["step"] == before[name]["step"]
            np.testing.assert_array_equal(pm.to_numpy(state["exp_avg"]),
                                          before[name]["exp_avg"])

    wrong_shape = {**good, "state": {**good["state"], 3: {
        **good["state"][3], "exp_avg": np.zeros((2, 2), np.float32)}}}
    with pytest.raises(pm.ShapeError, match=r"'out.bias' exp_avg has shape \(2, 2\)"):
        opt.load_state_dict(wrong_shape)
    assert_unchanged()
    with pytest.raises(pm.StateError, match="2 parameter groups, the optimizer 1"):
        opt.load_state_dict({**good, "param_groups": good["param_groups"] * 2})
    with pytest.raises(ValueError, match="maximize=True; polymod's Adam supports only"):
        opt.load_state_dict({**good, "param_groups": [{**good["param_groups"][0],
                                                       "maximize": True}]})
    with pytest.raises(ValueError, match=r"'momentum', 'nesterov'\], which Adam does not take"):
        opt.load_state_dict(pm.optim.SGD(net, momentum=0.9).state_dict())
    with pytest.raises(pm.StateError, match="names \\['nope'\\]"):
        opt.load_state_dict({**good, "param_groups": [{**good["param_groups"][0],
                                                       "param_names": ["nope"] * 4}]})
    with pytest.raises(pm.StateError, match="expects a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"state": {}})
    assert_unchanged()


def test_state_loaded_into_an_unbound_model_is_adopted_at_the_first_step():
    net = _model("gluon") if registry.is_installed("gluon") else _model("torch")
    opt = pm.optim.Adam(net)
    _train(net, opt, 2)
    weights, state = net.state_dict(), opt.state_dict()
    fresh = MLP()
    fresh.load_state_dict(weights)  # shapes from the state; still unbound
    assert fresh.backend is None
    fresh_opt = pm.optim.Adam(fresh)
    fresh_opt.load_state_dict(state)
    assert isinstance(fresh_opt.state["out.weight"]["exp_avg"], np.ndarray)
    fresh.to(net.backend)
    _train(fresh, fresh_opt, 1, start=2)
    _train(net, opt, 1, start=2)
    assert fresh_opt.state["out.weight"]["step"] == 3
    assert pm.backend_of(fresh_opt.state["out.weight"]["exp_avg"]) == net.backend
    for name, value in net.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[name], value, err_msg=name)


# -- schedulers -----------------------------------------------------------------------------------
SCHEDULERS = {
    "StepLR": {"step_size": 3, "gamma": 0.5},
    "CosineAnnealingLR": {"T_max": 10, "eta_min": 1e-4},
    "LinearLR": {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 7},
    "LambdaLR": {"lr_lambda": lambda step: 0.95 ** step + 0.1 * (step % 3)},
}


def _both(kind, **overrides):
    net = MLP()
    net.initialize(pm.rand(2, 20, backend="numpy"))
    opt = pm.optim.SGD(net, lr=0.1, param_groups=[{"params": ["out.weight"], "lr": 0.3}, {}])
    a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    ref_opt = torch.optim.SGD([{"params": [a], "lr": 0.3}, {"params": [b]}], lr=0.1)
    kwargs = {**SCHEDULERS[kind], **overrides}
    sched = getattr(pm.optim.lr_scheduler, kind)(opt, **kwargs)
    ref = getattr(torch.optim.lr_scheduler, kind)(ref_opt, **kwargs)
    return opt, sched, ref_opt, ref


@pytest.mark.parametrize("kind", sorted(SCHEDULERS))
def test_schedules_equal_torchs_to_the_bit(kind):
    opt, sched, ref_opt, ref = _both(kind)
    assert sched.get_last_lr() == ref.get_last_lr()
    for _ in range(30):  # past T_max and total_iters
        ref_opt.step()
        sched.step()
        ref.step()
        assert sched.get_last_lr() == ref.get_last_lr()
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in ref_opt.param_groups]


@pytest.mark.parametrize("kind", sorted(SCHEDULERS))
def test_schedule_state_round_trips_and_imports_torchs(kind):
    opt, sched, ref_opt, ref = _both(kind)
    for _ in range(5):
        ref_opt.step()
        sched.step()
        ref.step()
    mine, theirs = sched.state_dict(), ref.state_dict()
    assert set(mine) == set(theirs)
    for state in (mine, theirs):  # polymod's own, and torch's
        opt2, sched2, _, _ = _both(kind)
        opt2.load_state_dict(opt.state_dict())
        sched2.load_state_dict(state)
        assert sched2.get_last_lr() == ref.get_last_lr()
        for _ in range(8):
            sched2.step()
        assert sched2.get_last_lr() == _advanced(ref_opt, ref, 8)
    with pytest.raises(ValueError, match="unknown keys"):
        sched.load_state_dict({**mine, "oops": 1})


def _advanced(ref_opt, ref, steps):
    """torch's learning rates ``steps`` steps on, from a copy of its scheduler state."""
    import copy

    opt = copy.deepcopy(ref_opt)
    kind = type(ref)
    state = ref.state_dict()
    if kind is torch.optim.lr_scheduler.LambdaLR:
        sched = kind(opt, ref.lr_lambdas)
    else:
        args = {k: state[k] for k in ("step_size", "gamma", "T_max", "eta_min", "start_factor",
                                      "end_factor", "total_iters") if k in state}
        sched = kind(opt, **args)
    opt.load_state_dict(ref_opt.state_dict())  # after the scheduler, as torch's docs say
    sched.load_state_dict(state)
    for _ in range(steps):
        opt.step()
        sched.step()
    return sched.get_last_lr()


def test_scheduler_errors():
    opt = pm.optim.SGD(MLP(), lr=0.1)
    with pytest.raises(pm.BackendTypeError, match="takes a pm.optim optimizer"):
        pm.optim.lr_scheduler.StepLR(object(), step_size=1)
    with pytest.raises(pm.StateError, match="no 'initial_lr'"):
        pm.optim.lr_scheduler.StepLR(opt, step_size=1, last_epoch=3)
    with pytest.raises(ValueError, match="start_factor must be in"):
        pm.optim.lr_scheduler.LinearLR(opt, start_factor=0)
    with pytest.raises(ValueError, match="expects 1 lr_lambdas"):
        pm.optim.lr_scheduler.LambdaLR(opt, [lambda s: 1.0] * 2)
