"""``pm.from_torch``: real PyTorch models, converted, on every backend, against the original.

The oracle is the torch module itself (the chapter's listings from conftest's
``torch_oracle``, torchvision's ResNet/MobileNetV2 code from ``torchvision_models``,
Hugging Face's BERT and GPT-2); ``from_torch_check`` compares outputs in eval and train
mode and the gradients of every parameter.
"""

from __future__ import annotations

import copy
import importlib.util
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import torch_oracle  # noqa: E402
from from_torch_check import check_against_torch  # noqa: E402

import polymod as pm  # noqa: E402
from polymod import ops  # noqa: E402
from polymod.examples import chapter  # noqa: E402

TRACEABLE = [name for name in chapter.LISTINGS if name not in ("FixedHiddenMLP", "chimera")]


def _listing(name: str) -> torch.nn.Module:
    pm.seed(0)
    net = chapter.LISTINGS[name]()
    net(pm.zeros(1, 20, backend="numpy"))
    return torch_oracle(name, net.state_dict())


@pytest.mark.parametrize("name", TRACEABLE)
def test_chapter_listing_converts(name):
    torch.manual_seed(0)
    module = _listing(name)
    net = check_against_torch(module, torch.rand(2, 20))
    assert isinstance(net, pm.Module)


@pytest.mark.parametrize("name", ["FixedHiddenMLP", "chimera"])
def test_while_on_a_tensor_says_what_a_trace_cannot_capture(name):
    module = _listing(name)
    with pytest.raises(pm.UnsupportedError) as info:
        pm.from_torch(module, torch.rand(2, 20))
    text = str(info.value)
    assert "torch.fx: TraceError: symbolically traced variables cannot be used as inputs to " \
           "control flow" in text
    assert "torch.export:" in text
    assert "control flow that depends on tensor values" in text
    assert "write that module with polymod" in text
    assert isinstance(info.value, NotImplementedError)


# -- leaves=: a polymod module for what a trace cannot capture ---------------------------------
def _fixed_hidden(module: torch.nn.Module) -> pm.Module:
    return chapter.FixedHiddenMLP()


def test_leaves_supply_a_polymod_module_for_the_while_loop():
    module = _listing("chimera")  # Sequential(NestMLP, LazyLinear, FixedHiddenMLP)
    fixed = type(module[2])
    torch.manual_seed(0)
    x = torch.rand(2, 20)
    net = check_against_torch(module, x, leaves={fixed: _fixed_hidden})
    assert type(net[2]) is chapter.FixedHiddenMLP and "self[2](" in net.source
    # its weights and its plain tensor attribute (a polymod constant) came from torch
    np.testing.assert_array_equal(pm.to_numpy(net[2].rand_weight),
                                  module[2].rand_weight.numpy())
    assert list(net.state_dict(include_constants=False)) == list(module.state_dict())


def test_leaves_by_path_or_for_the_whole_model():
    module = _listing("chimera")
    x = torch.rand(2, 20)
    given = chapter.FixedHiddenMLP()
    net = pm.from_torch(module, x, leaves={"2": given}).eval()
    assert net[2] is given
    np.testing.assert_allclose(net(x.numpy()), module(x).detach().numpy(), rtol=1e-5)
    whole = _listing("FixedHiddenMLP")
    mlp = pm.from_torch(whole, x, leaves={type(whole): _fixed_hidden})
    assert type(mlp) is chapter.FixedHiddenMLP
    np.testing.assert_allclose(mlp(x.numpy()), whole(x).detach().numpy(), rtol=1e-5)


def test_leaves_in_the_written_source_are_constructor_arguments(tmp_path):
    import importlib.util

    module = _listing("chimera")
    x = torch.rand(2, 20)
    source = pm.interop.torch_source(module, x, leaves={type(module[2]): _fixed_hidden})
    assert "def __init__(self, leaf_2: pm.Module):" in source
    path = tmp_path / "chimera_polymod.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("chimera_polymod", path)
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    net = generated.Sequential(leaf_2=chapter.FixedHiddenMLP())
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    net.load_state_dict({**state, "2.rand_weight": module[2].rand_weight.numpy()})
    np.testing.assert_allclose(net(x.numpy()), module(x).detach().numpy(), rtol=1e-5)


class _Renamed(pm.Module):
    def __init__(self):
        super().__init__()
        self.dense = pm.nn.Linear(20, 20)

    def forward(self, x):
        return ops.sum(self.dense(x))


def test_leaves_errors_say_what_is_wrong():
    module = _listing("chimera")
    x = torch.rand(2, 20)
    fixed = type(module[2])
    with pytest.raises(pm.WeightsFileError, match=r"'linear.weight'.*'dense.weight'"):
        pm.from_torch(module, x, leaves={fixed: lambda m: _Renamed()})
    with pytest.raises(pm.UnsupportedError, match="torch.fx's tracer only"):
        pm.from_torch(module, x, leaves={fixed: _fixed_hidden}, tracer="export")
    with pytest.raises(KeyError, match="'9' names no submodule"):
        pm.from_torch(module, x, leaves={"9": _fixed_hidden})
    with pytest.raises(TypeError, match="torch.nn.Module subclasses or dotted"):
        pm.from_torch(module, x, leaves={3: _fixed_hidden})
    with pytest.raises(TypeError, match="expected a pm.Module"):
        pm.from_torch(module, x, leaves={fixed: lambda m: m})
    twice = torch.nn.Sequential(module[2], copy.deepcopy(module[2]))
    with pytest.raises(ValueError, match="the same polymod module was given"):
        pm.from_torch(twice, x, leaves={fixed: chapter.FixedHiddenMLP()})


def test_resnet18():
    import torchvision_models as tv

    torch.manual_seed(0)
    check_against_torch(tv.resnet18(num_classes=10), torch.randn(2, 3, 64, 64))


def test_resnet50():
    import torchvision_models as tv

    torch.manual_seed(0)
    # Train mode normalises layer4 over 2 x 2 x 2 values per channel: 50 layers of that
    # amplify float32 rounding differences (each framework's conv, the NumPy reference's
    # float64) to ~2e-4 of the output's scale, where ResNet-18 stays within 2e-5. Eval
    # mode and the gradients keep the default tolerance.
    check_against_torch(tv.resnet50(num_classes=10), torch.randn(2, 3, 64, 64),
                        train_atol=5e-4)


def test_mobilenet_v2():
    import torchvision_models as tv

    torch.manual_seed(0)
    model = tv.mobilenet_v2(num_classes=10)
    model.classifier[0].p = 0.0  # train mode against torch: dropout masks differ by RNG
    check_against_torch(model, torch.randn(2, 3, 64, 64))


def _transformers():
    if importlib.util.find_spec("transformers") is None:
        pytest.skip("transformers is not installed (pip install 'transformers>=5,<6')")
    import transformers

    return transformers


def test_bert():
    tf = _transformers()
    torch.manual_seed(0)
    config = tf.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                           num_attention_heads=4, intermediate_size=37,
                           max_position_embeddings=64, hidden_dropout_prob=0.0,
                           attention_probs_dropout_prob=0.0)
    ids = torch.randint(0, 99, (2, 7))
    net = check_against_torch(tf.BertModel(config), ids)
    assert net.accepts_integer_input
    # Hugging Face's all-keep mask, computed once per shape, is dropped before attention
    assert "masks=(0,)" in net.source
    net.eval()(ids.numpy())
    assert list(net.__dict__["_cache"]["shape_memo"].values()) == [(None,)]


def test_gpt2():
    tf = _transformers()
    torch.manual_seed(0)
    config = tf.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64,
                           use_cache=False, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                           bos_token_id=0, eos_token_id=0)
    model = tf.GPT2Model(config)
    # Hugging Face's causal mask: aten.diff, new_ones, cumsum, advanced indexing (index.Tensor)
    net = check_against_torch(model, torch.randint(0, 99, (2, 7)))
    assert "ops.take(" in net.source and "ops.logical_and(" in net.source
    assert "helpers.shape_memo(" in net.source  # the mask: once per shape, not per call
    # Conv1D's view(-1, K) -> addmm -> view back is one matmul on the 3-D input
    assert "ops.matmul(layer_norm, " in net.source and "(-1, 32))" not in net.source
    # exported with dynamic sizes: another batch and length run without converting again
    ids = torch.randint(0, 99, (3, 5))
    with torch.no_grad():
        expected = model.eval()(ids).last_hidden_state.numpy()
    out = net.eval()(ids.numpy())["last_hidden_state"]
    np.testing.assert_allclose(out, expected, rtol=2e-4, atol=2e-5)


class _MaskArithmetic(torch.nn.Module):
    """What Hugging Face's mask code does: advanced indexing, diff, new_ones, bool logic."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor([1.5, -0.5, 2.0, 1.0, 0.25]))

    def forward(self, x, idx):
        x = x * self.scale  # gradients flow through the gathers
        rows = x[idx]  # negative indices wrap, as in torch
        pairs = x[:, :3][idx[:, None], idx[None, :]]
        steps = torch.diff(x, dim=1, prepend=x[:, :1])
        mask = ((x > 0) & (steps < 0)) | ~(x < -1) ^ x.new_ones(x.shape, dtype=torch.bool)
        changed = torch.diff(x > 0, dim=-1).cumsum(-1)
        return rows, pairs, steps * 2, mask, changed, x.new_zeros(2, 3) + x.sum()


@pytest.mark.parametrize("tracer", ["fx", "export"])
def test_advanced_indexing_diff_and_boolean_logic(tracer):
    torch.manual_seed(0)
    x = torch.randn(3, 5)
    idx = torch.tensor([2, -1, 0])
    net = check_against_torch(_MaskArithmetic(), x, idx, tracer=tracer)
    assert "ops.take(" in net.source and "ops.logical_or(" in net.source


class _CausalScores(torch.nn.Module):
    """A mask built from the input's length only: computed once per shape when converted."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        length = x.shape[1]
        pos = torch.arange(length)
        causal = pos[None, :] <= pos[:, None]
        bias = torch.zeros(length, length).masked_fill(~causal, float("-inf"))
        return (self.linear(x) @ x.transpose(1, 2) + bias).softmax(-1)


def test_steps_that_depend_only_on_shapes_are_computed_once_per_shape():
    torch.manual_seed(0)
    module = _CausalScores()
    net = check_against_torch(module, torch.randn(2, 5, 4))
    assert "helpers.shape_memo(self, 'shape_only'" in net.source
    for length in (3, 5, 3):
        x = torch.randn(2, length, 4)
        np.testing.assert_allclose(net(x.numpy()), module(x).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    memo = net.__dict__["_cache"]["shape_memo"]
    assert sorted(key[1] for key in memo) == [(3,), (5,)]
    assert all(type(v) is np.ndarray for values in memo.values() for v in values)


def test_written_source_with_shape_only_steps_is_ruff_clean_and_runs(tmp_path):
    import subprocess
    import sys

    torch.manual_seed(0)
    module = _CausalScores()
    x = torch.randn(2, 5, 4)
    source = pm.interop.torch_source(module, x)
    assert source.index("def shape_only(like, ") < source.index("class _CausalScores")
    path = tmp_path / "causal_polymod.py"
    path.write_text(source)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(path)],
                          capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    spec = importlib.util.spec_from_file_location("causal_polymod", path)
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    net = generated._CausalScores()
    net.load_state_dict({k: v.numpy() for k, v in module.state_dict().items()})
    for length in (5, 2):
        x = torch.randn(2, length, 4)
        np.testing.assert_allclose(net(x.numpy()), module(x).detach().numpy(), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.backends("keras")
def test_shape_memo_keeps_no_graph_tensors_under_tf_function(backend):
    import tensorflow as tf

    torch.manual_seed(0)
    module = _CausalScores()
    x = torch.randn(2, 5, 4)
    net = pm.from_torch(module, x).to("keras")
    graph = tf.function(net, autograph=False)
    expected = module(x).detach().numpy()
    for _ in range(2):  # traced once, then run: the memo holds NumPy values, not graph ones
        np.testing.assert_allclose(graph(tf.constant(x.numpy())).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(net(tf.constant(x.numpy())).numpy(), expected, rtol=1e-5)


# -- errors -----------------------------------------------------------------------------------
class _Unconvertible(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.prelu = torch.nn.PReLU()

    def forward(self, x):
        x = self.prelu(self.linear(x))
        x = torch.cosh(x)
        return torch.sinh(x) + x.nan_to_num()


def test_unsupported_lists_every_node_with_its_source_line():
    with pytest.raises(pm.UnsupportedError) as info:
        pm.from_torch(_Unconvertible(), torch.zeros(2, 4))
    err = info.value
    assert len(err.nodes) == 4, err.nodes
    text = str(err)
    assert "4 operations have no polymod counterpart" in text
    assert "layer 'prelu'" in text and "torch.nn.PReLU" in text
    assert "torch.cosh" in text and "torch.sinh" in text and ".nan_to_num()" in text
    assert "test_from_torch.py" in text and "x = torch.cosh(x)" in text
    assert isinstance(err, pm.PolymodError) and isinstance(err, NotImplementedError)


def test_not_a_torch_module():
    with pytest.raises(TypeError, match="expects a torch.nn.Module"):
        pm.from_torch(pm.nn.Linear(2, 2))


# -- a converted model is a normal polymod model ----------------------------------------------
def _small_cnn() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4),
                               torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(64, 5))


def test_pickle_save_load_native_and_to(tmp_path, backend):
    module = _small_cnn().eval()
    x = torch.randn(2, 3, 4, 4)
    net = pm.from_torch(module, x).eval()
    again = pickle.loads(pickle.dumps(net.unbound_copy()))
    expected = module(x).detach().numpy()
    out = again.to(backend)(pm.asarray(x.numpy(), backend=backend))
    np.testing.assert_allclose(pm.to_numpy(out), expected, rtol=1e-4, atol=1e-5)
    path = tmp_path / "w.safetensors"
    pm.save(again, path)
    fresh = pm.from_torch(_small_cnn().eval(), x).eval()
    pm.load(fresh, path)
    np.testing.assert_allclose(pm.to_numpy(fresh.to(backend)(x.numpy())), expected,
                               rtol=1e-4, atol=1e-5)


@pytest.mark.backends("torch", "keras", "gluon")
def test_native_twin_runs_the_converted_forward(backend):
    module = _small_cnn().eval()
    x = torch.randn(2, 3, 4, 4)
    net = pm.from_torch(module, x).eval().to(backend)
    twin = pm.native(net)
    assert twin is not None
    out = net(pm.asarray(x.numpy(), backend=backend))
    np.testing.assert_allclose(pm.to_numpy(out), module(x).detach().numpy(), rtol=1e-4,
                               atol=1e-5)


def test_modes_follow_the_original():
    module = _small_cnn()
    net = pm.from_torch(module, torch.randn(2, 3, 4, 4))
    assert net.training
    assert "forward_train" not in net.source  # BatchNorm and Dropout are layers: one forward
    net.eval()
    assert all(not m.training for m in net.modules())


class _ReadsTrainingFlag(torch.nn.Module):
    def forward(self, x):
        return x * 2 if self.training else x - 1


def test_forward_that_reads_self_training_keeps_both_traces():
    net = pm.from_torch(_ReadsTrainingFlag(), torch.zeros(1, 3))
    assert "def forward_train" in net.source and "def forward_eval" in net.source
    x = np.ones((1, 3), np.float32)
    assert net.train()(x).tolist() == [[2.0, 2.0, 2.0]]
    assert net.eval()(x).tolist() == [[0.0, 0.0, 0.0]]


class _Scaled(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 3)
        self.scale = torch.full((3,), 2.0)  # a plain attribute: not in torch's state_dict
        self.register_buffer("offset", torch.ones(3), persistent=False)

    def forward(self, x):
        return self.linear(x) * self.scale + self.offset


def test_plain_tensors_and_non_persistent_buffers_become_constants():
    module = _Scaled()
    x = torch.rand(2, 3)
    net = pm.from_torch(module, x)
    assert list(net.state_dict()) == ["offset", "scale", "linear.weight", "linear.bias"]
    assert list(net.state_dict(include_constants=False)) == list(module.state_dict())
    np.testing.assert_allclose(net(x.numpy()), module(x).detach().numpy(), rtol=1e-6)


# -- generated source: polymod convert ---------------------------------------------------------
def test_written_source_imports_only_polymod_and_loads_torch_weights(tmp_path):
    import importlib.util
    import subprocess
    import sys

    import torchvision_models as tv

    torch.manual_seed(0)
    module = tv.resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 64, 64)
    source = pm.interop.torch_source(module, x)
    path = tmp_path / "resnet18_polymod.py"
    path.write_text(source)
    assert "import torch" not in source and "class ResNet(pm.Module):" in source
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(path)],
                          capture_output=True, text=True)
    assert ruff.returncode == 0, ruff.stdout + ruff.stderr
    spec = importlib.util.spec_from_file_location("resnet18_polymod", path)
    generated = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generated)
    net = generated.ResNet()
    net.load_state_dict({k: v.numpy() for k, v in module.state_dict().items()})
    out = net.eval()(x.numpy())
    np.testing.assert_allclose(out, module(x).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_cli_convert_and_compare_from_torch(tmp_path, monkeypatch, capsys):
    from polymod import cli

    (tmp_path / "tiny_models.py").write_text(
        "import torch\n\n\ndef cnn():\n    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), "
        "torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(), "
        "torch.nn.Linear(64, 5))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "cnn_polymod.py"
    assert cli.main(["convert", "tiny_models:cnn", "--input-shape", "2,3,4,4", "--out",
                     str(out)]) == 0
    assert "class Sequential(pm.Module)" in out.read_text()
    assert cli.main(["compare", "--from-torch", "tiny_models:cnn", "--input-shape",
                     "2,3,4,4", "--backends", "torch"]) == 0
    printed = capsys.readouterr().out
    assert "torch (original)" in printed and "reference: torch (original)" in printed
    assert cli.main(["convert", "tiny_models:nothing", "--out", str(out)]) == 2
