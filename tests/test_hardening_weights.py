"""Issue 12, weights: writes that work, loads that are all-or-nothing, hostile files and
paths. Each test pins one case of the issue (its item number in the docstring)."""

from __future__ import annotations

import json
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import polymod as pm
from polymod import nn, registry

FRAMEWORKS = registry.FRAMEWORKS


def write_raw(path: Path, header: dict, data: bytes = b"") -> Path:
    body = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body)) + body + data)
    return path


def state_of(net: pm.Module) -> dict:
    return {name: h.numpy() for name, h in net.named_handles() if h.materialized}


def assert_same_state(before: dict, after: dict) -> None:
    assert list(before) == list(after)
    for name in before:
        np.testing.assert_array_equal(before[name], after[name], err_msg=name)


# -- item 1: Gluon writes after an eval-mode MKLDNN conv ----------------------------------
def _eval_conv():
    conv = nn.Conv2d(16, 16, 3).to("gluon")
    conv.eval()(pm.rand(2, 16, 16, 16, backend="gluon"))  # MKLDNN's layout from here on
    return conv


@pytest.mark.backends("gluon")
@pytest.mark.parametrize("write", ["load_state_dict", "pm.load", "load_native", "assign",
                                   "init", "after_no_grad", "after_initialize"])
def test_gluon_writes_after_an_eval_mode_mkldnn_conv(backend, write, tmp_path):
    """Item 1: every write raised "We can't generate TBlob for MKLDNN data"."""
    from mxnet import gluon

    conv = _eval_conv()
    target = {k: np.full_like(v, 0.25) for k, v in conv.state_dict().items()}
    if write == "load_state_dict":
        conv.load_state_dict(target)
    elif write == "pm.load":
        source = nn.Conv2d(16, 16, 3)
        source.load_state_dict(target)
        pm.save(source, tmp_path / "c.safetensors")
        pm.load(conv, tmp_path / "c.safetensors")
    elif write == "load_native":
        block = gluon.nn.Conv2D(16, 3, in_channels=16)
        block.initialize(init="ones")
        for p in block.collect_params().values():
            p.set_data(p.data() * 0 + 0.25)
        pm.load_native(conv, block)
    elif write == "assign":
        for name, handle in conv.named_parameters():
            handle.assign(target[name])
    elif write == "init":
        pm.init.constant_(conv.weight, 0.25)
        pm.init.constant_(conv.bias, 0.25)
    elif write == "after_no_grad":
        with pm.no_grad():
            conv(pm.rand(2, 16, 16, 16, backend="gluon"))
        conv.load_state_dict(target)
    else:
        conv.initialize(pm.rand(2, 16, 16, 16, backend="gluon"))
        conv.load_state_dict(target)
    assert_same_state(target, conv.state_dict())
    out = conv(pm.ones(1, 16, 3, 3, backend="gluon"))  # and the new values are used
    np.testing.assert_allclose(pm.to_numpy(out).ravel(), np.full(16, 16 * 9 * 0.25 + 0.25),
                               rtol=1e-6)


# -- item 1: all-or-nothing when the framework fails midway -------------------------------
class FailOnce:
    """The adapter's own ``assign``, failing at its ``nth`` call (as a framework that
    refuses one write midway: MXNet's MKLDNN case before the fix above)."""

    def __init__(self, real, nth: int):
        self.real, self.nth, self.calls = real, nth, 0

    def __call__(self, target, value):
        self.calls += 1
        if self.calls == self.nth:
            raise RuntimeError("the framework refused this write")
        return self.real(target, value)


def _load(entry: str, net: pm.Module, state: dict, tmp_path: Path) -> None:
    if entry == "load_state_dict":
        net.load_state_dict(state)
    elif entry == "pm.load":
        source = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        source.load_state_dict(state)
        pm.save(source, tmp_path / "w.safetensors")
        pm.load(net, tmp_path / "w.safetensors")
    else:
        pm.load_native(net, state)  # a PyTorch-style state_dict (a mapping)


@pytest.mark.parametrize("entry", ["load_state_dict", "pm.load", "load_native"])
@pytest.mark.parametrize("nth", [1, 3, 6])
def test_a_load_that_fails_midway_leaves_the_model_unchanged(backend, entry, nth, tmp_path,
                                                             monkeypatch):
    """Item 1: a failed load left 0.weight written and 1.weight not."""
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2)).to(backend)
    before = state_of(net)
    state = {k: (v + 1).astype(v.dtype) for k, v in net.state_dict().items()}
    adapter = registry.adapter(backend)
    monkeypatch.setattr(adapter, "assign", FailOnce(adapter.assign, nth))
    with pytest.raises(RuntimeError, match="refused this write"):
        _load(entry, net, state, tmp_path)
    monkeypatch.undo()
    assert_same_state(before, state_of(net))
    net.load_state_dict(state)  # and the same load works once the framework does
    assert_same_state(state, state_of(net))


def test_a_failed_load_into_a_lazy_model_leaves_it_lazy(backend, monkeypatch):
    """Item 1 and 12: a lazy parameter the failed load gave a shape is lazy again."""
    net = nn.Sequential(nn.LazyLinear(4), nn.LazyLinear(2)).to(backend)
    state = {"0.weight": np.ones((4, 3), np.float32), "0.bias": np.ones(4, np.float32),
             "1.weight": np.ones((2, 4), np.float32), "1.bias": np.ones(2, np.float32)}
    adapter = registry.adapter(backend)  # a lazy parameter's first values: a new tensor
    monkeypatch.setattr(adapter, "create_parameter", _failing_after(adapter.create_parameter, 2))
    with pytest.raises(RuntimeError, match="refused"):
        net.load_state_dict(state)
    monkeypatch.undo()
    assert not any(h.materialized for _, h in net.named_parameters())
    with pytest.raises(pm.UninitializedParameterError):
        net[0].weight  # noqa: B018 -- reading it is the test
    net.load_state_dict(state)
    assert net(pm.ones(1, 3, backend=backend)).shape[-1] == 2


def _failing_after(real, n: int):
    calls = [0]

    def create(*args, **kwargs):
        calls[0] += 1
        if calls[0] > n:
            raise RuntimeError("the framework refused to create this parameter")
        return real(*args, **kwargs)

    return create


# -- item 12: lazy layers --------------------------------------------------------------------
def test_a_lazy_model_s_state_dict_raises_as_pm_save_does(tmp_path):
    """Item 12: state_dict() of a lazy model returned {} silently."""
    net = nn.Sequential(nn.LazyLinear(4))
    with pytest.raises(pm.UninitializedParameterError, match="still lazy") as from_state:
        net.state_dict()
    with pytest.raises(pm.UninitializedParameterError, match="still lazy") as from_save:
        pm.save(net, tmp_path / "lazy.safetensors")
    assert type(from_state.value) is type(from_save.value)
    assert not os.listdir(tmp_path)


def _zeros(*shape):
    return np.zeros(shape, np.float32)


LAZY_CASES = {
    "LazyLinear": (lambda: nn.LazyLinear(4), (2, 3),
                   {"weight": _zeros(7, 3), "bias": _zeros(5)},
                   {"weight": _zeros(4, 3), "bias": _zeros(4)}),
    "LazyLinear_bias_only_wrong": (lambda: nn.LazyLinear(4), (2, 3),
                                   {"weight": _zeros(4, 3), "bias": _zeros(5)},
                                   {"weight": _zeros(4, 3), "bias": _zeros(4)}),
    "LazyConv2d": (lambda: nn.LazyConv2d(4, 3, groups=2), (1, 6, 5, 5),
                   {"weight": _zeros(4, 3, 3, 2), "bias": _zeros(4)},
                   {"weight": _zeros(4, 3, 3, 3), "bias": _zeros(4)}),
    "LazyConv1d": (lambda: nn.LazyConv1d(4, 3), (1, 2, 5),
                   {"weight": _zeros(5, 2, 3), "bias": _zeros(4)},
                   {"weight": _zeros(4, 2, 3), "bias": _zeros(4)}),
    "LazyBatchNorm1d": (lambda: nn.LazyBatchNorm1d(), (2, 3),
                        {"weight": _zeros(3), "bias": _zeros(3), "running_mean": _zeros(5),
                         "running_var": _zeros(3),
                         "num_batches_tracked": np.array(0, np.int64)},
                        {"weight": _zeros(3), "bias": _zeros(3), "running_mean": _zeros(3),
                         "running_var": _zeros(3) + 1,
                         "num_batches_tracked": np.array(0, np.int64)}),
    "LazyBatchNorm2d": (lambda: nn.LazyBatchNorm2d(), (1, 3, 2, 2),
                        {"weight": _zeros(3, 1), "bias": _zeros(3), "running_mean": _zeros(3),
                         "running_var": _zeros(3),
                         "num_batches_tracked": np.array(0, np.int64)},
                        {"weight": _zeros(3), "bias": _zeros(3), "running_mean": _zeros(3),
                         "running_var": _zeros(3) + 1,
                         "num_batches_tracked": np.array(0, np.int64)}),
}


@pytest.mark.parametrize("case", sorted(LAZY_CASES))
def test_shapes_loaded_into_lazy_layers_must_fit_the_layer(backend, case, tmp_path):
    """Item 12: LazyLinear(4) accepted weight (7, 3) and bias (5,), then refused the
    right shapes forever."""
    make, input_shape, wrong, right = LAZY_CASES[case]
    layer = make().to(backend)
    with pytest.raises(pm.WeightsFileError, match="needs .*the data has"):
        layer.load_state_dict(wrong)
    assert not any(h.materialized for _, h in layer.named_parameters())
    source = make()
    source.load_state_dict(right)
    pm.save(source, tmp_path / "right.safetensors")
    pm.load(layer, tmp_path / "right.safetensors")  # the right shapes still load
    out = layer.eval()(pm.ones(*input_shape, backend=backend))  # eval: BatchNorm keeps stats
    assert pm.backend_of(out) == backend
    for name, value in right.items():
        np.testing.assert_array_equal(layer.state_dict()[name], value)


def test_a_lazily_loaded_linear_explains_input_of_the_wrong_size():
    layer = nn.LazyLinear(4)
    layer.load_state_dict({"weight": _zeros(4, 3), "bias": _zeros(4)})
    with pytest.raises(pm.ShapeError, match="expects input with 3 features"):
        layer(pm.ones(2, 5, backend="numpy"))


# -- weak spot: a shared module loaded under two names with different values --------------
def test_a_shared_module_loaded_under_two_names_with_different_values_is_refused():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    before = state_of(net)
    state = {"0.weight": _zeros(2, 2), "0.bias": _zeros(2),
             "2.weight": _zeros(2, 2) + 1, "2.bias": _zeros(2)}
    with pytest.raises(pm.WeightsFileError, match="'2.weight' and '0.weight' name the same"):
        net.load_state_dict(state)
    assert_same_state(before, state_of(net))
    state["2.weight"] = state["0.weight"]
    net.load_state_dict(state)  # the same values under both names: fine (PyTorch's layout)


# -- item 13: hostile headers ------------------------------------------------------------
@pytest.mark.parametrize("shape", [[0, 2**70], [0, 2**62, 2**62], [0, 2**62, 4], [1] * 40])
@pytest.mark.parametrize("reader", ["load", "read"])
def test_huge_or_deep_header_shapes_are_weights_file_errors(shape, reader, tmp_path):
    """Item 13: OverflowError / "array is too big" / a bare ValueError escaped."""
    path = write_raw(tmp_path / "h.safetensors",
                     {"weight": {"dtype": "F32", "shape": shape, "data_offsets": [0, 0]}})
    with pytest.raises(pm.WeightsFileError, match="has shape"):
        if reader == "load":
            pm.load(nn.Linear(3, 2), path)
        else:
            pm.io.read(path)


def test_unsigned_buffers_save_read_and_load(tmp_path):
    """Item 13: KeyError 'uint32' at save; 'NumPy cannot hold' U16/U32/U64 at read."""
    class Counters(pm.Module):
        def __init__(self):
            super().__init__()
            for kind in ("uint8", "uint16", "uint32", "uint64"):
                self.register_buffer(kind, np.array([0, 1, np.iinfo(kind).max], kind))

    path = tmp_path / "u.safetensors"
    pm.save(Counters(), path)
    read = pm.io.read(path)
    assert {k: v.dtype.name for k, v in read.items()} == {k: k for k in read}
    assert all(int(v[-1]) == np.iinfo(v.dtype).max for v in read.values())
    target = Counters()
    for _, handle in target.named_buffers():
        handle.assign(np.zeros(3, handle.dtype))
    pm.load(target, path)
    assert_same_state(state_of(Counters()), state_of(target))


def test_a_tensor_named_metadata_is_refused_at_save(tmp_path):
    """Item 13: a file with a '__metadata__' tensor was saved, then refused by pm.load."""
    net = pm.Module()
    net.register_buffer("__metadata__", _zeros(2))
    with pytest.raises(pm.WeightsFileError, match="'__metadata__'"):
        pm.save(net, tmp_path / "m.safetensors")
    assert not os.listdir(tmp_path)
    holder = pm.Module()  # a submodule of that name is fine: its tensors are '__metadata__.x'
    holder.add_module("__metadata__", nn.Linear(2, 2))
    pm.save(holder, tmp_path / "ok.safetensors")
    pm.load(holder, tmp_path / "ok.safetensors")


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_saved_files_get_the_umask_s_mode_and_replaced_files_keep_theirs(tmp_path):
    """Item 13: pm.save wrote 0600 (mkstemp's mode), also over an existing 0644 file."""
    path = tmp_path / "m.safetensors"
    old = os.umask(0o022)
    try:
        pm.save(nn.Linear(2, 2), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o640)
        pm.save(nn.Linear(2, 2), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
        os.umask(0o077)
        pm.save(nn.Linear(2, 2), tmp_path / "private.safetensors")
        assert stat.S_IMODE((tmp_path / "private.safetensors").stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_float64_values_beyond_float32_are_refused_naming_the_tensor(tmp_path):
    """Item 13: they loaded as inf with only a NumPy warning."""
    data = np.full(6, 1e300).tobytes() + _zeros(2).tobytes()
    path = write_raw(tmp_path / "f64.safetensors", {
        "weight": {"dtype": "F64", "shape": [2, 3], "data_offsets": [0, 48]},
        "bias": {"dtype": "F32", "shape": [2], "data_offsets": [48, 56]}}, data)
    net = nn.Linear(3, 2)
    before = state_of(net)
    with pytest.raises(pm.WeightsFileError, match="'weight': values beyond the range"):
        pm.load(net, path)
    assert_same_state(before, state_of(net))


# -- item 13: paths -----------------------------------------------------------------------
@pytest.mark.parametrize("bad, says", [("a\0b.safetensors", "NUL"), ("", "empty"),
                                       (".", "directory"), ("missing/w.safetensors",
                                                            "does not exist")])
def test_bad_save_paths_are_weights_file_errors_naming_the_path(bad, says, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(pm.WeightsFileError, match=says) as caught:
        pm.save(nn.Linear(2, 2), bad)
    assert repr(bad)[1:-1] in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_a_bytes_path_works_as_for_open(tmp_path):
    path = os.fsencode(tmp_path / "b.safetensors")
    pm.save(nn.Linear(2, 2), path)
    pm.load(nn.Linear(2, 2), path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_saving_over_a_device_or_fifo_is_refused(tmp_path):
    """A save replaces its target: over /dev/full it replaced the device with a file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(pm.WeightsFileError, match="not a regular file"):
        pm.save(nn.Linear(2, 2), fifo)
    assert stat.S_ISFIFO(fifo.stat().st_mode) and os.listdir(tmp_path) == ["pipe"]


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ (Linux)")
def test_a_full_disk_is_a_weights_file_os_error_and_leaves_nothing(tmp_path):
    """Item 13: a raw OSError naming the temp file; here the file size limit stands in
    for a full disk (the same write error, EFBIG instead of ENOSPC)."""
    code = (
        "import os, resource, signal, sys, polymod as pm\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        "    pm.save(pm.nn.Linear(512, 512), sys.argv[1])\n"
        "except pm.WeightsFileOSError as err:\n"
        "    print(isinstance(err, OSError), err.errno, err.filename, err)\n")
    target = str(tmp_path / "big.safetensors")
    result = subprocess.run([sys.executable, "-c", code, target], capture_output=True,
                            text=True, timeout=120)
    assert result.stdout.startswith(f"True 27 {target} Cannot save to"), result.stderr[-2000:]
    assert os.listdir(tmp_path) == []


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (read-only)")
def test_a_read_only_filesystem_is_a_weights_file_os_error():
    with pytest.raises(pm.WeightsFileOSError, match="Cannot save to '/proc/self/w"):
        pm.save(nn.Linear(2, 2), "/proc/self/w.safetensors")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_saving_through_a_symlink_writes_its_target(tmp_path):
    """Item 13: the link was replaced by a regular file."""
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "w.safetensors"
    link = tmp_path / "link.safetensors"
    link.symlink_to(target)
    net = nn.Linear(2, 2)
    pm.save(net, link)
    assert link.is_symlink() and target.is_file()
    assert sorted(os.listdir(tmp_path / "real")) == ["w.safetensors"]
    loaded = nn.Linear(2, 2)
    pm.load(loaded, target)
    assert_same_state(state_of(net), state_of(loaded))
