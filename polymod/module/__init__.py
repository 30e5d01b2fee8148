"""``polymod.module``: the ``Module`` base class, one file per concern.

============  ==============================================================
file          job
============  ==============================================================
core.py       ``Module``: the call, modes, ``to``, ``repr``
registration  attribute assignment, ``add_module``, ``register_*``
tree.py       traversal: children, modules, handles (the one walk; cached)
state.py      ``state_dict``, ``load_state_dict`` (all or nothing), copy, pickle
lazy.py       first call (bind, build), NumPy input, ``initialize``
binding.py    binding a tree to a backend; the per-binding record ``_bound``
diagnose.py   turning a framework's failure into an error a user can act on
============  ==============================================================
"""

from .core import Module
from .state import LoadResult

__all__ = ["Module", "LoadResult"]
