"""``polymod.io``: weights in safetensors files, in the neutral (PyTorch) layout.

============  ================================================================
file          job
============  ================================================================
weights.py    ``save``, ``load``, ``read``, ``load_native``
format.py     reading: header validation with sanity limits, tensors into arrays
atomic.py     writing: one atomic, streamed file; removing killed saves' temps
============  ================================================================
"""

from .atomic import write_file
from .format import read_header
from .weights import FORMAT_VERSION, load, load_native, read, save

__all__ = ["save", "load", "read", "read_header", "load_native", "write_file",
           "FORMAT_VERSION"]
