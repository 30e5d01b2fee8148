"""Every error of issue 3 point 10, tested for its message, and odd inputs on every backend."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import INSTALLED, native_types, needs, stored_dtype

import polymod as pm
from polymod import nn, registry
from polymod.examples.chapter import NestMLP

VALID = tuple(repr(name) for name in registry.NAMES)
# each backend's "other" framework: the next installed one in the registry (wrapping round)
_HERE = [name for name in registry.FRAMEWORKS if name in INSTALLED]
OTHER = {name: _HERE[(_HERE.index(name) + 1) % len(_HERE)] if name in _HERE else _HERE[0]
         for name in registry.NAMES}


def test_error_hierarchy():
    assert issubclass(pm.BackendTypeError, (pm.PolymodError, TypeError))
    assert issubclass(pm.ShapeError, (pm.PolymodError, ValueError))
    assert issubclass(pm.BackendNameError, (pm.PolymodError, ValueError))
    assert issubclass(pm.StateError, (pm.PolymodError, RuntimeError))
    assert issubclass(pm.UninitializedParameterError, pm.StateError)
    assert issubclass(pm.WeightsFileError, (pm.PolymodError, ValueError))
    assert issubclass(pm.BackendUnavailableError, (pm.PolymodError, ImportError))


@pytest.mark.parametrize("call", [
    lambda: pm.set_backend("theano"),
    lambda: pm.use_backend("theano").__enter__(),
    lambda: pm.rand(2, backend="theano"),
    lambda: nn.Linear(2, 2).to("theano"),
], ids=["set_backend", "use_backend", "rand", "to"])
def test_unknown_backend_lists_valid_names(call):
    with pytest.raises(ValueError, match="Unknown backend 'theano'") as info:
        call()
    assert isinstance(info.value, pm.BackendNameError)
    for name in VALID + ("'tensorflow'", "'mxnet'"):
        assert name in str(info.value)


def test_missing_framework_names_pip_extra():
    """A framework that cannot be imported (hidden in a subprocess) gives a clear error."""
    code = (
        "import sys\n"
        "sys.modules['mxnet'] = None  # makes importlib.util.find_spec('mxnet') answer None\n"
        "import polymod as pm\n"
        "assert 'gluon' not in pm.available_backends()\n"
        "try:\n"
        "    pm.rand(2, backend='gluon')\n"
        "except pm.BackendUnavailableError as err:\n"
        "    assert isinstance(err, ImportError) and err.__cause__ is None\n"
        "    print(err)\n")
    env = {k: v for k, v in os.environ.items() if k != "POLYMOD_BACKEND"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'polymod[gluon]'" in out.stdout
    assert "mxnet" in out.stdout


def test_wrong_feature_size_names_layer_path_and_sizes(backend):
    net = nn.Sequential(NestMLP(), nn.LazyLinear(20))
    net(pm.rand(2, 20))
    with pytest.raises(ValueError) as info:
        net(pm.rand(2, 7))
    err = info.value
    assert isinstance(err, pm.ShapeError)
    text = str(err)
    assert "'0.net.0'" in text and "20 features" in text and "7 features" in text
    assert err.path == "0.net.0"
    # the model still works after the error
    assert tuple(pm.to_numpy(net(pm.rand(1, 20))).shape) == (1, 20)


def test_wrong_feature_size_on_fixed_linear(backend):
    with pytest.raises(pm.ShapeError, match=r"expects input with 3 features.*\(2, 5\)"):
        nn.Sequential(nn.Linear(3, 2))(pm.rand(2, 5))


def test_tensor_of_another_backend_names_both(backend):
    other = OTHER[backend]
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    net(pm.rand(1, 4))
    with pytest.raises(TypeError) as info:
        net(pm.rand(1, 4, backend=other))
    text = str(info.value)
    assert isinstance(info.value, pm.BackendTypeError)
    assert f"bound to backend {backend!r}" in text and f"{other!r} tensor" in text
    assert f"net.to({other!r})" in text


@pytest.mark.parametrize("bad", [[1.0, 2.0], "abc", {"x": 1}, 3], ids=["list", "str", "dict",
                                                                    "int"])
def test_non_tensor_input_names_its_type(backend, bad):
    net = nn.Sequential(nn.Linear(2, 2))
    net(pm.rand(1, 2))
    with pytest.raises(TypeError) as info:
        net(bad)
    assert isinstance(info.value, pm.BackendTypeError)
    assert f"builtins.{type(bad).__name__}" in str(info.value)
    assert "pm.asarray" in str(info.value)


def test_non_tensor_input_to_unbound_module_names_its_type():
    with pytest.raises(pm.BackendTypeError, match="builtins.list"):
        nn.Linear(2, 2)([1.0, 2.0])


def test_uninitialised_lazy_parameter(backend):
    net = nn.Sequential(nn.LazyLinear(4))
    with pytest.raises(RuntimeError, match="'weight' is not initialised.*net.initialize") as info:
        net[0].weight  # noqa: B018
    assert isinstance(info.value, pm.UninitializedParameterError)
    handle = dict(net.named_parameters())["0.weight"]
    with pytest.raises(pm.UninitializedParameterError):
        handle.shape  # noqa: B018
    with pytest.raises(pm.UninitializedParameterError):
        handle.numpy()
    with pytest.raises(pm.StateError, match="still lazy"):
        pm.native(net.to(backend))


def test_assigning_raw_torch_module_is_refused():
    torch = pytest.importorskip("torch")
    net = pm.Module()
    with pytest.raises(TypeError, match=r"torch model or layer \(Linear\).*'layer'.*polymod.nn"):
        net.layer = torch.nn.Linear(2, 2)
    assert "layer" not in dict(net.named_children())
    net.data = torch.zeros(2)  # a tensor is a plain attribute


def test_assigning_raw_keras_layer_is_refused():
    pytest.importorskip("torch")  # torch first (docs/design.md, environment facts)
    keras = pytest.importorskip("keras")
    net = pm.Module()
    with pytest.raises(TypeError, match=r"keras model or layer \(Dense\).*'layer'"):
        net.layer = keras.layers.Dense(2)
    with pytest.raises(TypeError, match="keras model or layer"):
        net.model = keras.Sequential([keras.layers.Dense(2)])


@needs("gluon")
def test_assigning_raw_gluon_block_is_refused():
    pm.rand(1, backend="gluon")  # imports mxnet through the adapter (NumPy alias shim)
    from mxnet.gluon import nn as gnn

    net = pm.Module()
    with pytest.raises(TypeError, match=r"gluon model or layer \(Dense\).*'layer'"):
        net.layer = gnn.Dense(2)
    with pytest.raises(TypeError, match="gluon model or layer"):
        net.add_module("layer", gnn.Dense(2))


def test_module_cycles_are_refused():
    a, b = nn.Sequential(), nn.Sequential(nn.Linear(2, 2))
    a.append(b)
    with pytest.raises(RuntimeError, match="cycle") as info:
        b.append(a)
    assert isinstance(info.value, pm.StateError)
    outer = pm.Module()
    with pytest.raises(pm.StateError, match="cycle"):
        outer.me = outer
    inner = pm.Module()
    outer.inner = inner
    with pytest.raises(pm.StateError, match="cycle"):
        inner.items = [outer]
    with pytest.raises(pm.StateError, match="cycle"):
        inner.add_module("up", outer)


@pytest.mark.parametrize("name", ["modules", "parameters", "forward", "state_dict", "train",
                                  "children"])
def test_attribute_shadowing_a_method(name):
    class Bad(pm.Module):
        def __init__(self):
            super().__init__()
            setattr(self, name, (nn.Linear(2, 2),))

    with pytest.raises(pm.NameClashError) as info:  # a name problem: a ValueError (docs/errors.md)
        Bad()
    assert isinstance(info.value, ValueError)
    text = str(info.value)
    assert f"'{name}'" in text and f"Module.{name}()" in text and "choose another name" in text


def test_forgetting_super_init():
    class Bad(pm.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(pm.StateError, match=r"super\(\).__init__\(\)"):
        Bad()


def test_assigning_a_non_parameter_over_a_parameter():
    layer = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        layer.weight = np.zeros((2, 2))


def test_invalid_layer_arguments():
    with pytest.raises(ValueError, match="out_features"):
        nn.Linear(2, -1)
    with pytest.raises(ValueError, match="Unknown activation 'swish'"):
        nn.Dense(2, activation="swish")
    with pytest.raises(ValueError, match="at least one module"):
        nn.Parallel()


# -- dtypes -------------------------------------------------------------------------------------
@pytest.mark.backends(*registry.FRAMEWORKS)
def test_float64_framework_tensor_is_refused(backend):
    if stored_dtype(backend, "float64") != np.float64:
        pytest.skip(f"{backend} has no float64 tensors (JAX without x64): nothing to refuse")
    net = nn.Sequential(nn.Linear(3, 2))
    net(pm.rand(1, 3))
    x = pm.asarray(np.ones((1, 3)), dtype="float64")
    with pytest.raises(TypeError, match=r"float32.*float64.*ops.cast\(x, 'float32'\)") as info:
        net(x)
    assert isinstance(info.value, pm.BackendTypeError)


def test_float64_numpy_data_is_cast(backend):
    net = nn.Linear(3, 2)
    out = net(np.ones((1, 3), np.float64))
    assert isinstance(out, native_types(backend)) and pm.to_numpy(out).dtype == np.float32


def test_integer_input_same_error_on_every_backend(backend):
    net = nn.Sequential(nn.Linear(3, 2))
    net(pm.rand(1, 3))
    stored = stored_dtype(backend, "int64")  # int32 on JAX without x64
    with pytest.raises(pm.BackendTypeError, match=str(stored)):
        net(pm.asarray(np.ones((1, 3), np.int64)))
    with pytest.raises(pm.BackendTypeError, match="int64"):
        net(np.ones((1, 3), np.int64))  # NumPy integer data too


def test_integer_input_to_unbound_module(backend):
    stored = stored_dtype(backend, "int64")
    with pytest.raises(pm.BackendTypeError, match=rf"{stored}.*float32|float.*{stored}"):
        nn.Linear(3, 2)(pm.asarray(np.ones((1, 3), np.int64)))


# -- odd shapes and NaN: the same outcome on every backend ----------------------------------------
def test_empty_batch(backend):
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    out = net(pm.zeros(0, 4))
    assert isinstance(out, native_types(backend))
    assert pm.to_numpy(out).shape == (0, 2)


def test_one_dimensional_input(backend):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    x = np.arange(4, dtype=np.float32)
    out = net(pm.asarray(x))
    assert pm.to_numpy(out).shape == (2,)
    pm.seed(0)
    ref = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).to("numpy")
    np.testing.assert_allclose(pm.to_numpy(out), ref(x[None])[0], rtol=2e-5, atol=1e-6)


def test_scalar_input_is_a_shape_error(backend):
    net = nn.Sequential(nn.Linear(4, 3))
    net(pm.rand(1, 4))
    with pytest.raises(pm.ShapeError, match="at least 1 dimension"):
        net(pm.asarray(1.0))


def test_nan_propagates_the_same_way(backend):
    pm.seed(0)
    net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Sigmoid(), nn.Tanh(), nn.GELU(),
                        nn.Softmax())
    x = np.array([[np.nan, 1.0, 2.0], [0.0, 1.0, 2.0]], np.float32)
    out = pm.to_numpy(net(pm.asarray(x)))
    assert np.isnan(out[0]).all() and not np.isnan(out[1]).any()


def test_keras_backend_other_than_tensorflow_is_a_clear_error():
    import subprocess
    import sys

    code = ("import polymod as pm\n"
            "try:\n"
            "    pm.rand(2, backend='keras')\n"
            "except pm.BackendUnavailableError as err:\n"
            "    print(err)\n")
    env = {**__import__("os").environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=300)
    assert "KERAS_BACKEND='jax'" in result.stdout, result.stderr[-2000:]
    assert "Unset KERAS_BACKEND" in result.stdout
