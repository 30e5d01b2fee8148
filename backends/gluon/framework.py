"""Imports MXNet once: the NumPy aliases it needs first, then NumPy mode switched on."""

from __future__ import annotations

import warnings

import numpy as np

# mxnet 1.9.1 still uses NumPy aliases removed in NumPy 1.24 (np.bool, np.int, ...), at
# import and at run time. Only missing ones are set; look in __dict__: hasattr(np, "str")
# itself warns on NumPy 1.26.
for _alias, _builtin in {"bool": bool, "int": int, "float": float, "complex": complex,
                         "object": object, "str": str}.items():
    if _alias not in np.__dict__:
        setattr(np, _alias, _builtin)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mxnet as mx
    from mxnet import autograd, gluon, npx
    from mxnet import np as mnp

npx.set_np()

__all__ = ["mx", "autograd", "gluon", "npx", "mnp"]
