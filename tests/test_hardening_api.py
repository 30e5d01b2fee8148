"""Issue 12, API misuse: refused assignments, gradients that cannot be recorded, stale
twins, framework classes, deep models, asyncio, TensorFlow's logs. Each test pins one
case of the issue (its item number in the docstring)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import polymod as pm
from polymod import nn, ops, registry

FRAMEWORKS = registry.FRAMEWORKS


def sum_loss(m, X):
    return ops.sum(m(X))


# -- item 2: a refused assignment leaves the model as it was ---------------------------------
@pytest.mark.backends(*FRAMEWORKS)
@pytest.mark.parametrize("other", FRAMEWORKS)
def test_a_refused_parameter_of_another_backend_leaves_the_model_intact(backend, other,
                                                                        tmp_path):
    """Item 2: the other backend's handle stayed registered (state_dict gave its values)."""
    if other == backend:
        pytest.skip("the same backend: the assignment is allowed")
    pm.seed(0)
    net = nn.Linear(3, 2).to(backend)
    foreign = nn.Linear(3, 2).to(other)
    before = net.state_dict()
    X = pm.ones(2, 3, backend=backend)
    out_before = pm.to_numpy(net(X))
    with pytest.raises(pm.BackendTypeError, match=f"on backend '{other}'"):
        net.weight = foreign.get_parameter("weight")
    with pytest.raises(pm.BackendTypeError, match=f"bound to '{other}'"):
        nn.Linear(3, 2).weight = foreign.get_parameter("weight")  # unbound target
    after = net.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert [h.adapter.NAME for _, h in net.named_handles()] == [backend, backend]
    np.testing.assert_array_equal(pm.to_numpy(net(X)), out_before)
    _, grads = pm.value_and_grad(sum_loss)(net, X)
    assert sorted(grads) == ["bias", "weight"]
    pm.save(net, tmp_path / "w.safetensors")


# -- item 3: gradients a framework cannot record ----------------------------------------------
@pytest.mark.backends("torch")
def test_value_and_grad_inside_torch_inference_mode_is_an_error(backend):
    """Item 3: all-zero gradients, silently."""
    import torch

    net = nn.Linear(4, 2).to("torch")
    with torch.inference_mode(), pytest.raises(pm.StateError, match="inference_mode"):
        pm.value_and_grad(sum_loss)(net, torch.ones(2, 4))

    def inside(m, X):  # entering it inside the loss function is the same
        with torch.inference_mode():
            return ops.sum(m(X))

    with pytest.raises(pm.StateError, match="inference_mode"):
        pm.value_and_grad(inside)(net, torch.ones(2, 4))
    with torch.no_grad():  # no_grad is fine: value_and_grad records anyway
        _, grads = pm.value_and_grad(sum_loss)(net, torch.ones(2, 4))
    assert float(grads["bias"].abs().sum()) == 4.0


# -- item 4 and a weak spot: what the differentiated function returns ---------------------
@pytest.mark.backends(*FRAMEWORKS)
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_a_non_float_loss_is_refused_on_every_backend(backend, dtype):
    """Item 4: zero gradients on torch and keras, nonzero ones on gluon, no error."""
    net = nn.Linear(4, 2).to(backend)
    with pytest.raises(pm.BackendTypeError, match=f"float loss.*dtype {dtype}"):
        pm.value_and_grad(lambda m, X: ops.cast(ops.sum(m(X)), dtype))(
            net, pm.ones(2, 4, backend=backend))


@pytest.mark.backends(*FRAMEWORKS)
@pytest.mark.parametrize("returned, says", [
    (1.0, "returned float 1.0. Compute the loss"),
    ((1.0, 2.0), "returned a tuple of 2. If .* pass has_aux=True"),
    (None, "returned None. Did the function forget"),
    ("tensor_and_aux", "returned a tuple of 2. If .* pass has_aux=True"),
])
def test_value_and_grad_says_what_the_function_must_return(backend, returned, says):
    """Weak spot: "'float' object has no attribute 'shape'"."""
    net = nn.Linear(3, 1).to(backend)

    def fn(m, X):
        return (ops.sum(m(X)), {"n": 1}) if returned == "tensor_and_aux" else returned

    with pytest.raises(pm.BackendTypeError, match=f"return the loss.*{says}"):
        pm.value_and_grad(fn)(net, pm.ones(2, 3, backend=backend))
    (_, aux), _ = pm.value_and_grad(lambda m, X: (ops.sum(m(X)), 1), has_aux=True)(
        net, pm.ones(2, 3, backend=backend))
    assert aux == 1


# -- item 6: the native twin follows structural changes ------------------------------------
@pytest.mark.backends(*FRAMEWORKS)
@pytest.mark.parametrize("change", ["replace_parameter", "add_layer"])
def test_native_twin_follows_structural_changes(backend, change):
    """Item 6: pm.native returned the cached twin; an optimizer over it trained nothing."""
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 2)).to(backend)
    old = pm.native(net)
    assert pm.native(net) is old  # unchanged: the same twin
    if change == "replace_parameter":
        net[0].weight = pm.Parameter(np.ones((2, 3), np.float32))
        new_handle = net[0].get_parameter("weight")
    else:
        net.append(nn.Linear(2, 2))
        new_handle = net.get_parameter("1.weight")
    twin = pm.native(net)
    assert twin is not old and pm.native(net) is twin
    assert any(p is new_handle.native for p in _native_parameters(backend, twin))
    before = new_handle.numpy()
    _train_one_step(backend, twin, pm.ones(4, 3, backend=backend))
    assert not np.array_equal(new_handle.numpy(), before)  # the twin trains the new one


def _native_parameters(backend: str, twin) -> list:
    if backend == "torch":
        return list(twin.parameters())
    if backend == "keras":
        return list(twin.trainable_variables)
    return list(twin.collect_params().values())


def _train_one_step(backend: str, twin, X) -> None:
    if backend == "torch":
        import torch

        opt = torch.optim.SGD(twin.parameters(), lr=0.1)
        twin(X).sum().backward()
        opt.step()
    elif backend == "keras":
        import keras

        twin.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        twin.fit(pm.to_numpy(X), np.ones((4, 2), np.float32) * 5, epochs=1, verbose=0)
    else:
        from mxnet import autograd, gluon

        trainer = gluon.Trainer(twin.collect_params(), "sgd", {"learning_rate": 0.1})
        with autograd.record():
            loss = twin(X).sum()
        loss.backward()
        trainer.step(1)


# -- items 7 and 8: framework classes written by users ---------------------------------------
def _user_models(backend: str):
    """A user's subclass of the framework's model class, holding a Linear(3, 2)."""
    if backend == "torch":
        import torch

        class TorchNet(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.layer = torch.nn.Linear(3, 2)

            def forward(self, x):
                return self.layer(x)

        model = TorchNet()
        return model, {"layer.weight": model.layer.weight.detach().numpy().copy(),
                       "layer.bias": model.layer.bias.detach().numpy().copy()}
    if backend == "keras":
        import keras

        class KerasNet(keras.Model):
            def __init__(self):
                super().__init__()
                self.layer = keras.layers.Dense(2)

            def call(self, x):
                return self.layer(x)

        model = KerasNet()
        model(np.ones((1, 3), np.float32))
        kernel, bias = (v.numpy() for v in model.weights)
        return model, {"layer.weight": kernel.T.copy(), "layer.bias": bias}
    from mxnet import gluon

    class GluonNet(gluon.nn.Block):
        def __init__(self):
            super().__init__()
            self.layer = gluon.nn.Dense(2, in_units=3)

        def forward(self, x):
            return self.layer(x)

    model = GluonNet()
    model.initialize()
    weight, bias = (p.data().asnumpy() for p in model.collect_params().values())
    return model, {"layer.weight": weight, "layer.bias": bias}


class Holder(pm.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3, 2)


@pytest.mark.backends(*FRAMEWORKS)
def test_load_native_takes_user_subclasses_of_framework_models(backend):
    """Item 7: "load_native expects ... a torch.nn.Module ...; received TorchNet"."""
    model, expected = _user_models(backend)
    net = Holder()
    pm.load_native(net, model)
    for name, value in expected.items():
        np.testing.assert_allclose(net.state_dict()[name], value, rtol=1e-6)


@pytest.mark.backends(*FRAMEWORKS)
def test_a_user_subclass_of_a_framework_model_is_refused_as_an_attribute(backend):
    """Item 8: a user's torch.nn.Module was accepted silently (its parameters missed from
    state_dict and .to()), while torch.nn.Linear was refused."""
    model, _ = _user_models(backend)
    holder = pm.Module()
    with pytest.raises(pm.BackendTypeError, match=f"Cannot assign a {backend} model or layer "
                                                  f"\\({type(model).__name__}\\)"):
        holder.inner = model
    with pytest.raises(pm.BackendTypeError, match="model or layer"):
        holder.add_module("inner", model)
    with pytest.raises(pm.BackendTypeError, match="model or layer"):
        holder.layers = [nn.Linear(2, 2), model]
    assert list(holder.named_children()) == []


# -- weak spots: deep nesting, cycles, asyncio ------------------------------------------------
def test_a_3000_deep_nested_sequential_builds_in_linear_time():
    """12.8 s before (the cycle check walked the whole subtree at every wrap)."""
    start = time.perf_counter()
    net = nn.Linear(2, 2)
    for _ in range(3000):
        net = nn.Sequential(net)
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"{elapsed:.2f} s"
    assert len(net.state_dict()) == 2


def test_cycles_are_still_refused():
    a = nn.Sequential()
    b = nn.Sequential(nn.Sequential(a))
    with pytest.raises(pm.StateError, match="would make a cycle"):
        a.add(b)
    holder = pm.Module()
    holder.layers = []
    inner = nn.Sequential()
    holder.layers.append(inner)  # in place: polymod hears of it at the next walk
    list(holder.modules())
    with pytest.raises(pm.StateError, match="would make a cycle"):
        inner.add(holder)


def test_a_cycle_made_through_a_plain_list_is_refused_when_walked():
    holder = pm.Module()
    holder.layers = []
    inner = nn.Sequential()
    holder.layers.append(inner)
    inner.add(holder)  # no walk in between: not seen here...
    with pytest.raises(pm.StateError, match="goes round a cycle"):
        holder.state_dict(), list(holder.named_modules(remove_duplicate=False))


def test_use_backend_exited_in_another_asyncio_task_says_what_happened():
    """Weak spot: a raw ValueError: <Token ...>."""
    async def main():
        scope = pm.use_backend("torch")
        await asyncio.create_task(_enter(scope))
        return await asyncio.create_task(_exit(scope))

    with pytest.raises(pm.StateError, match="entered in one thread or asyncio task and "
                                            "exited in another"):
        asyncio.run(main())


async def _enter(scope):
    scope.__enter__()


async def _exit(scope):
    scope.__exit__(None, None, None)


# -- weak spots: TensorFlow's import lines, the README ------------------------------------
def _import_keras_adapter(env_level: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if env_level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = env_level
    code = "import polymod as pm; pm.registry.adapter('keras'); import os; " \
           "print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip() + "\n" + result.stderr


@pytest.mark.skipif("keras" not in pm.available_backends(), reason="needs TensorFlow")
def test_tensorflow_import_lines_are_quiet_unless_asked_for():
    """Weak spot: oneDNN's INFO lines printed on every import, even with level 2."""
    quiet = _import_keras_adapter(None)
    assert quiet.startswith("1\n") and "oneDNN" not in quiet and "I0000" not in quiet, quiet
    assert "oneDNN" not in _import_keras_adapter("2")
    loud = _import_keras_adapter("0")  # the user asked for everything: left alone
    assert loud.startswith("0\n")


def test_the_readme_s_first_gluon_mention_says_how_to_import_mxnet():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    first = readme.split("\n\n")[1]
    assert "Gluon" in first and "import mxnet" in first and 'adapter("gluon")' in first
