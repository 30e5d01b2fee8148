"""MXNet Gluon adapter: the only place polymod imports mxnet.

Tensors are ``mx.np.ndarray`` (NumPy mode is switched on). Parameters are
``gluon.Parameter`` objects whose data arrays are what ``forward`` reads, so a
``gluon.Trainer`` over ``pm.native(net).collect_params()`` updates the same storage.

What loading this adapter changes for the whole process (MXNet 1.9.1 is frozen):

* the NumPy aliases MXNet needs (``np.bool``, ``np.int``, ...) are set where missing,
  before MXNet is imported (it cannot import without them);
* ``npx.set_np()`` (NumPy semantics for ``mx.np`` arrays).

Nothing else is patched globally: in-place operators on recorded arrays (``X /= 2``)
are made out-of-place only while a polymod model runs under recording
(``inplace.recording_safe``), and restored after.

Private framework internals used:

| internal | why | fallback | covered by |
|---|---|---|---|
| ``gluon.Parameter._ctx_list``, ``_ctx_map``, ``_data``, ``_init_grad`` | a parameter over the given array, no copy | ``Parameter.initialize`` + ``set_data`` (one copy more) | ``tests/test_fast_paths.py``, ``tests/test_native_twins.py::test_gluon_twin_collect_params`` |
| ``mx.base._LIB.MXAutogradBackwardEx`` | fresh gradient arrays in one call | ``value.backward()`` + copies of ``.grad`` (used for unused parameters) | ``tests/test_fast_paths.py::test_unused_parameters_get_zeros_on_every_call`` |
| ``mx.base._LIB.MXNDArraySyncCopyToCPU`` | ``to_numpy`` of large arrays into 64-byte aligned memory | ``ndarray.asnumpy()`` (below 1 MiB) | ``tests/test_fast_paths.py::test_to_numpy_of_a_large_tensor_is_an_aligned_fresh_copy`` |
| ``ndarray._sync_copyfrom`` | ``assign`` of NumPy data: one synchronous copy | ``target[...] = mx.np.array(value)`` (other devices, shapes, and arrays in MKLDNN's layout after an eval-mode conv, which the synchronous copy refuses) | ``tests/test_weights.py``, ``tests/test_hardening_weights.py::test_gluon_writes_after_an_eval_mode_mkldnn_conv`` |
| ``Block._params._params``, ``Block._reg_params`` | the twin registers polymod's parameters under their neutral names | none: MXNet 1.9's ``collect_params()`` ignores ``Parameter`` attributes | ``tests/test_native_twins.py::test_gluon_twin_collect_params`` |
| ``mx.np.ndarray.__iadd__`` and the other in-place operators | replaced by the out-of-place ones while a polymod model records | none | ``tests/test_chapter.py`` (``FixedHiddenMLP``'s ``X /= 2``) |
"""

from __future__ import annotations

from polymod import adapter as _interface

from . import autograd, compiler, layers, ops, tensors, twin, updates
from .framework import mnp, mx

NAME = "gluon"
TENSOR_TYPES = (mnp.ndarray,)


def version() -> str:
    return mx.__version__


_interface.assemble(globals(), tensors, autograd, ops, layers, twin, updates, compiler)
