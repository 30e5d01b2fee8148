"""One adapter module per framework, installed as ``polymod.backends.<name>``.

Every adapter defines the same names (``NAME``, ``TENSOR_TYPES``, ``from_numpy``,
``to_numpy``, ``create_parameter``, ``assign``, ``value_and_grad``, the ops, ...);
``tests/test_adapters.py`` checks that they match. An adapter is the only place
its framework is imported, and it is imported only when first needed.

Ownership: ``create_parameter``, ``create_buffer`` and ``create_constant`` receive a
NumPy array that nothing else references (the core copies first when it cannot
promise that), so an adapter may keep it as its storage without copying.
"""
