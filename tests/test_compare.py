"""``polymod.compare`` and ``assert_backends_agree`` on real models and odd ones.

Inputs of every dtype, positional and keyword; nested outputs named leaf by leaf;
eval and train mode; gradients of ``sum(leaf * R)``; the tolerance rule; a planted
1e-4 change found at the right submodule; the instrument always removed.
"""

from __future__ import annotations

import numpy as np
import pytest

import polymod as pm
from polymod import nn, ops, registry
from polymod.compare import compare
from polymod.compare.tolerance import default_rtol, difference
from polymod.examples import bert, gpt2, resnet
from polymod.testing import assert_backends_agree

FRAMEWORKS = [b for b in registry.FRAMEWORKS if registry.is_installed(b)]


def planted(factory, path: str, backend: str, factor: float = 1 + 1e-4):
    """``factory`` whose submodule ``path`` multiplies its output by ``factor`` on one backend."""
    def make():
        net = factory()
        module = dict(net.named_modules())[path]
        forward = module.forward

        def skewed(*args, **kwargs):
            out = forward(*args, **kwargs)
            return out * factor if pm.backend_of(out) == backend else out

        module.__dict__["forward"] = skewed  # what a buggy layer on one backend would do
        return net

    return make


# -- the rule -----------------------------------------------------------------------------
def test_tolerance_is_relative_to_the_leaf_scale() -> None:
    expected = np.array([100.0, 1e-6], np.float32)
    assert difference(expected + [0.0, 5e-4], expected, 1e-5, 0.0).ok  # 5e-6 of the scale
    assert not difference(expected + [0.0, 5e-3], expected, 1e-5, 0.0).ok
    assert difference(expected, expected, 1e-5, 0.0, noise=1e-2).limit == pytest.approx(0.1)
    nan = np.array([np.nan, np.inf, 1.0])
    assert difference(nan, nan.copy(), 1e-5, 0.0).ok
    assert not difference(np.array([np.nan, np.inf, 1.0]), np.array([1.0, np.inf, 1.0]),
                          1e-5, 0.0).ok
    assert not difference(np.array([1, 2]), np.array([1, 3]), 1.0, 1.0).ok  # integers: exact
    assert not difference(np.zeros(3), np.zeros(4), 1.0, 1.0).ok
    assert (default_rtol("float32"), default_rtol("float64")) == (1e-5, 1e-12)


# -- inputs, outputs, modes, gradients ----------------------------------------------------
class Mixed(pm.Module):
    """Float, integer and bool inputs, positional and keyword; a nested output."""

    accepts_integer_input = True

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 4)
        self.lin = nn.Linear(4, 3)

    def forward(self, x, ids, *, mask, scale=2.0):
        kinds = tuple(registry.adapter_of(t).dtype_of(t).kind for t in (x, ids, mask))
        assert kinds == ("f", "i", "b"), kinds
        h = self.lin(x + self.emb(ids))
        keep = ops.astype(mask, "float32")
        return {"logits": h * scale, "parts": (ops.sum(h * ops.expand_dims(keep, -1), axis=1),
                                               None, [ops.tanh(h)])}


def test_inputs_of_any_dtype_and_nested_outputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((2, 5, 4))  # float64: becomes the model's float32
    ids = rng.integers(0, 10, (2, 5))
    mask = rng.random((2, 5)) > 0.3
    records = assert_backends_agree(Mixed, x, ids, mask=mask, scale=3.0)
    assert [r.backend for r in records] == ["numpy", *FRAMEWORKS]
    names = [leaf["name"] for leaf in records[1].outputs]
    assert names == ["out['logits']", "out['parts'][0]", "out['parts'][2][0]"]
    assert records[1].outputs[0]["shape"] == [2, 5, 3]
    assert records[1].outputs[0]["dtype"] == "float32"


class Dropping(pm.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.drop = nn.Dropout(0.5)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        return self.norm(self.drop(self.lin(x)))


def test_train_mode_draws_the_same_dropout_masks_everywhere() -> None:
    x = np.random.default_rng(1).random((4, 8), dtype=np.float32)
    train = assert_backends_agree(Dropping, x, mode="train")
    evaluation = assert_backends_agree(Dropping, x)
    assert train[0].mode == "train" and evaluation[0].mode == "eval"
    a, b = train[0]._run.outputs[0][1], evaluation[0]._run.outputs[0][1]
    assert not np.allclose(a, b)  # dropout was on in one and off in the other
    with pytest.raises(ValueError, match="mode 'eval' or 'train'; received mode='training'"):
        compare(Dropping, x, mode="training")


class StaleGradient(pm.Module):
    """Ends in a LayerNorm (sum(out) is constant); on gluon the gradient skips `lin`."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(6, elementwise_affine=False)

    def forward(self, x):
        h = self.lin(x)
        if pm.backend_of(h) == "gluon":
            h = ops.stop_gradient(h)
        return self.norm(h) + 0.0 * ops.sum(self.lin.weight)


@pytest.mark.skipif("gluon" not in FRAMEWORKS, reason="needs MXNet")
def test_gradients_probe_each_output_with_random_weights() -> None:
    # sum(LayerNorm(...)) is 0 whatever the weights: its gradients are 0 on every
    # framework and would hide the bug; sum(out * R) does not.
    x = np.random.default_rng(2).random((3, 6), dtype=np.float32)
    with pytest.raises(AssertionError, match="gluon: gradient of parameter 'lin.weight'"):
        assert_backends_agree(StaleGradient, x)


def test_the_instrument_is_always_removed() -> None:
    made = []

    def factory(fail: str | None = None):
        net = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
        if fail:
            net[2].__dict__["forward"] = lambda x: (_ for _ in ()).throw(RuntimeError(fail))
        made.append(net)
        return net

    x = np.ones((2, 3), np.float32)
    compare(factory, x, backends=FRAMEWORKS[:1], trace=True)
    compare(lambda: factory("boom"), x, backends=FRAMEWORKS[:1], trace=True)
    for net in made:
        for path, module in net.named_modules():
            own = module.__dict__.get("forward")
            assert own is None or path == "2", f"instrument left on {path!r}"
    assert made[-1][2].__dict__["forward"].__name__ == "<lambda>"  # the user's, kept


def test_a_timeout_stops_one_backend() -> None:
    import time

    class Slow(pm.Module):
        def forward(self, x):
            if pm.backend_of(x) != "numpy":
                time.sleep(5)
            return x * 2

    records = compare(Slow, np.ones((2, 2), np.float32), backends=FRAMEWORKS[:1],
                      grads=False, timeout=0.5)
    assert records[0].ok
    assert records[1].error.startswith("TimeoutError: stopped after 0.5 s")


def test_a_failing_reference_leaves_the_frameworks_compared_with_each_other() -> None:
    class NoReference(pm.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(4, 2)

        def forward(self, x):
            if pm.backend_of(x) == "numpy":
                raise RuntimeError("no reference")
            return self.lin(x)

    records = compare(NoReference, np.ones((2, 4), np.float32))
    assert records[0].error == "RuntimeError: no reference" and not records[0].ok
    assert all(r.ok and r.reference == FRAMEWORKS[0] for r in records[2:])


# -- real models: agree in both modes, and a planted 1e-4 change is found ------------------
IMAGES = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
REAL = {
    "resnet18": (lambda: resnet.resnet18(num_classes=10), (IMAGES,), {}),
    "resnet50": (lambda: resnet.resnet50(num_classes=10), (IMAGES,), {}),
    "bert": (bert.BertModel, (), bert.bert_inputs(2, 16)),
    "gpt2": (gpt2.GPT2LMHeadModel, (), gpt2.gpt2_inputs(2, 16)),
}


# ResNet-50 in eval mode (its Bottleneck blocks); gradients on the ResNet-18 of the same
# code (train mode took ResNet-50 8 minutes of CI's 20 on 2 cores: docs/contributing.md).
@pytest.mark.parametrize("name, mode", [("resnet50", "eval"), ("resnet18", "train"),
                                        ("gpt2", "eval"), ("gpt2", "train")])
def test_real_models_agree_at_the_default_tolerances(name: str, mode: str) -> None:
    factory, args, kwargs = REAL[name]
    records = assert_backends_agree(factory, *args, mode=mode, **kwargs)
    assert all(r.ok for r in records)


@pytest.mark.parametrize("mode", ["eval", "train"])
@pytest.mark.parametrize("name, path", [("resnet18", "layer2.0.conv2"),
                                        ("bert", "encoder.layer.1.attention.self.value")])
def test_a_planted_change_is_found_at_its_submodule(name: str, path: str, mode: str) -> None:
    factory, args, kwargs = REAL[name]
    culprit = FRAMEWORKS[-1]
    records = compare(planted(factory, path, culprit), args, kwargs, mode=mode, trace=True,
                      grads=False)
    by_backend = {r.backend: r for r in records}
    for backend, record in by_backend.items():  # the healthy ones agree in this mode
        assert record.ok == (backend != culprit), (backend, record.error, record.divergence)
    divergence = by_backend[culprit].divergence
    assert divergence["module"] == path, divergence
    assert divergence["max_rel_diff"] == pytest.approx(1e-4, rel=0.2)


def test_without_trace_a_disagreement_is_traced_to_its_submodule() -> None:
    factory, args, kwargs = REAL["resnet18"]
    culprit = FRAMEWORKS[0]
    seen = []
    records = compare(planted(factory, "layer3.0.conv1", culprit, 1.001), args, kwargs,
                      grads=False,
                      progress=lambda message, main: seen.append(message))
    record = {r.backend: r for r in records}[culprit]
    assert not record.ok and record.first_divergence == "layer3.0.conv1"
    assert record.trace is None  # located, but only an asked-for trace goes to the JSON
    assert any("(tracing)" in message for message in seen)
