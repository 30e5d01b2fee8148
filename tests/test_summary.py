"""pm.summary: the table of submodules, on every backend and on lazy models.

Parameter totals are checked against the frameworks' own counts on the native twins
(``sum(p.numel())`` in torch, ``count_params()`` in Keras, Gluon's parameter shapes);
the instrument that records output shapes is always removed, and a summary leaves the
training flags, BatchNorm statistics and polymod's random generator as they were.
"""

from __future__ import annotations

import numpy as np
import pytest

import polymod as pm
from polymod import nn, ops, registry
from polymod.examples.chapter import MLP
from polymod.examples.vision import LeNet


def _native_count(net):
    if net.backend == registry.REFERENCE:  # no native object: the state dict's sizes
        return sum(v.size for v in net.state_dict().values())
    twin = pm.native(net)
    if net.backend == "torch":
        return sum(p.numel() for p in twin.parameters())
    if net.backend == "keras":
        return twin.count_params()
    return sum(int(np.prod(p.shape)) for p in twin.collect_params().values())  # gluon


def _no_instrument_left(net):
    return all("forward" not in module.__dict__ for module in net.modules())


def test_lenet_table_on_every_backend(backend):
    net = LeNet()  # lazy: the summary's run builds it
    summary = pm.summary(net, pm.rand(2, 1, 28, 28))
    assert net.backend == backend
    assert summary.total_params == summary.trainable_params == 61706 == _native_count(net)
    assert summary.non_trainable_params == 0
    by_name = {row.name: row for row in summary.rows}
    assert by_name[""].type == "LeNet" and by_name[""].output_shape == (2, 10)
    assert by_name["net.0"].output_shape == (2, 6, 28, 28) and by_name["net.0"].params == 156
    assert by_name["net.6"].type == "Flatten" and by_name["net.6"].output_shape == (2, 400)
    assert by_name["net.7"].params == 48120 and by_name["net.7"].trainable == "yes"
    assert by_name["net.1"].trainable == "--"
    text = str(summary)
    assert text == repr(summary)
    lines = text.splitlines()
    assert lines[0].split() == ["Module", "Type", "Output", "shape", "Params", "Trainable"]
    assert "    0    Conv2d      (2, 6, 28, 28)      156  yes" in lines
    assert lines[-3:] == ["Total params: 61,706", "Trainable params: 61,706",
                          "Non-trainable params: 0"]
    assert _no_instrument_left(net)


def test_chapter_mlp_without_inputs_once_built(backend):
    net = MLP()
    net(pm.rand(2, 20))
    summary = pm.summary(net)  # no inputs: shapes left out, counts known
    assert summary.total_params == 7946 == _native_count(net)
    assert all(row.output_shape is None for row in summary.rows)
    assert str(summary).splitlines()[2].split() == ["(model)", "MLP", "--", "--", "--"]


def test_lazy_model_without_inputs_is_refused():
    with pytest.raises(pm.StateError, match=r"still lazy; pass an input"):
        pm.summary(MLP())


@pytest.mark.backends(*registry.FRAMEWORKS)
def test_frozen_and_shared_parameters(backend):
    shared = nn.Linear(4, 4)
    net = nn.Sequential(shared, nn.ReLU(), shared, nn.Linear(4, 2))
    net.to(backend)
    dict(net.named_parameters())["3.bias"].trainable = False
    summary = pm.summary(net, pm.rand(3, 4))
    assert summary.total_params == 20 + 10  # the shared layer once
    assert summary.trainable_params == 20 + 8
    rows = {row.name: row for row in summary.rows}
    assert rows["3"].trainable == "partly" and rows["0"].trainable == "yes"
    assert "2" not in rows  # the same module, listed once (as named_modules does)


def test_summary_changes_nothing_and_cleans_up_after_an_error():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 2))
    net.to("torch").train()
    net[2].eval()  # a child's own flag survives too
    before = net.state_dict()
    rng = pm.random.generator().bit_generator.state
    pm.summary(net, pm.rand(8, 4, backend="torch"))
    assert pm.random.generator().bit_generator.state != rng  # pm.rand drew the input
    rng = pm.random.generator().bit_generator.state
    X = pm.rand(8, 4, backend="torch")
    rng_after_input = pm.random.generator().bit_generator.state
    pm.summary(net, X)
    assert pm.random.generator().bit_generator.state == rng_after_input != rng
    assert [m.training for m in net.modules()] == [True, True, True, False, True]
    for name, value in net.state_dict().items():  # BatchNorm statistics untouched
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    with pytest.raises(Exception, match="shape|size|mat"):
        pm.summary(net, pm.rand(8, 5, backend="torch"))
    assert _no_instrument_left(net)
    assert [m.training for m in net.modules()] == [True, True, True, False, True]
    out = net(X)  # still runs, through the normal path
    assert tuple(out.shape) == (8, 2)


def test_tuple_outputs_and_keyword_inputs():
    class TwoHeads(pm.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(3, 1)

        def forward(self, X, scale=1.0):
            return self.a(X) * scale, {"b": self.b(X)}

    summary = pm.summary(TwoHeads(), pm.rand(5, 3, backend="numpy"), scale=2.0)
    assert summary.rows[0].output_shape == [(5, 2), {"b": (5, 1)}]
    assert "[(5, 2), {b: (5, 1)}]" in str(summary)
    assert ops.shape(pm.rand(1, backend="numpy")) == (1,)


def test_summary_takes_a_model():
    with pytest.raises(pm.StateError, match="expects a polymod Module"):
        pm.summary(object())
