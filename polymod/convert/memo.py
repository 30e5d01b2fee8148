"""Parts of a converted forward that depend only on the input's shape, computed once per
shape.

Hugging Face's models build their attention masks with dozens of small operations on
``arange`` results (GPT-2: ``diff``, ``cumsum``, advanced indexing ...) whose values
depend on the sequence length and batch size only. The original pays for them on every
call; a converted model computes them once per shape on the NumPy reference, keeps the
NumPy arrays (never a framework tensor, so nothing leaks between a framework's graphs
or traces) and hands each call a fresh tensor made from them.

``split(graph, name)`` finds those steps: the nodes computed from creation ops
(``ops.arange``, ``ops.full``) and sizes read with ``ops.shape``, without any tensor
value of the inputs or weights. They move into a function ``name(like, *sizes)`` (a
``Graph``); the forward calls ``helpers.shape_memo(self, name, fn, like, *sizes)``
instead. Where a size is unknown (a symbolic graph), the function runs on the live
tensors as before.
"""

from __future__ import annotations

from .graph import Graph, Node, Ref, _refs

#: ops that make a tensor from sizes and values alone (``like`` only places it)
CREATION = frozenset({"ops.arange", "ops.full"})
#: ops whose result is not a function of their arguments
IMPURE = frozenset({"ops.dropout"})
#: fewer steps than this are cheaper to run than to look up and convert
MIN_STEPS = 3


def _deps(node: Node, skip_like: bool = True) -> set[str]:
    found: set[str] = set()
    _refs(node.args, found)
    _refs({k: v for k, v in node.kwargs.items() if not (skip_like and k == "like")}, found)
    return found


def _pure(node: Node) -> bool:
    if node.kind in ("operator", "getitem"):
        return True
    return node.kind == "call" and node.target.startswith("ops.") and node.target not in IMPURE


def _classify(graph: Graph) -> tuple[set[str], set[str]]:
    """(shape-only steps, sizes read from tensors outside them)."""
    only: set[str] = set()
    sizes: set[str] = set()
    for node in graph.nodes:
        deps = _deps(node)
        if not _pure(node):
            continue
        if node.kind == "call" and node.target == "ops.shape":
            (only if deps & only else sizes).add(node.name)
            continue
        if not deps <= only | sizes:
            continue
        if deps & only or (node.kind == "call" and node.target in CREATION):
            only.add(node.name)
        elif node.kind in ("getitem", "operator"):
            sizes.add(node.name)  # arithmetic on sizes: still a size
    return only, sizes


def split(graph: Graph, name: str) -> tuple[Graph, Graph | None]:
    """``(forward graph, shape-only function graph or None)``; see the module docstring."""
    only, sizes = _classify(graph)
    position = {node.name: i for i, node in enumerate(graph.nodes)}
    while True:
        outputs = _outputs(graph, only)
        first_use = min((position[n.name] for n in graph.nodes
                         if n.name not in only and _deps(n, False) & outputs),
                        default=len(graph.nodes))
        inputs = _inputs(graph, only)
        late = {i for i in inputs if position.get(i, -1) >= first_use}
        if not late:
            break
        only -= _downstream(graph, only, late)  # read sizes known only later: leave those
    if len(only) < MIN_STEPS or not outputs:
        return graph, None
    likes = _likes(graph, only)
    if not likes:  # nothing says which backend: leave it
        return graph, None
    inputs = _inputs(graph, only)
    inner = [_inner(node, only) for node in graph.nodes if node.name in only]
    ordered = [n for n in (node.name for node in graph.nodes) if n in outputs]
    function = Graph([("like", Graph.REQUIRED)] + [(i, Graph.REQUIRED) for i in inputs],
                     inner, tuple(Ref(n) for n in ordered))
    memo = f"{name}_values"
    masks = tuple(k for k, n in enumerate(ordered) if _only_attention_mask(graph, n, only))
    call = Node(memo, "call", "helpers.shape_memo",
                (Ref("self"), name, Ref(name), Ref(likes[0]), *(Ref(i) for i in inputs)),
                {"masks": masks} if masks else {})
    reads = [Node(n, "getitem", "", (Ref(memo), k)) for k, n in enumerate(ordered)]
    nodes: list[Node] = []
    for i, node in enumerate(graph.nodes):
        if i == first_use:
            nodes += [call, *reads]
        if node.name not in only:
            nodes.append(node)
    if first_use == len(graph.nodes):
        nodes += [call, *reads]
    return Graph(graph.inputs, nodes, graph.output), function


def _only_attention_mask(graph: Graph, name: str, only: set[str]) -> bool:
    """Whether every use of ``name`` outside the shape-only steps is the ``attn_mask`` of
    ``ops.scaled_dot_product_attention`` (where a mask that keeps everything is None)."""
    uses = [n for n in graph.nodes if n.name not in only and name in _deps(n, False)]
    found: set[str] = set()
    _refs(graph.output, found)
    return bool(uses) and name not in found and all(
        n.target == "ops.scaled_dot_product_attention" and n.kwargs.get("attn_mask") == Ref(name)
        and name not in _refs_of(n.args) for n in uses)


def _refs_of(value: object) -> set[str]:
    found: set[str] = set()
    _refs(value, found)
    return found


def _outputs(graph: Graph, only: set[str]) -> set[str]:
    used: set[str] = set()
    for node in graph.nodes:
        if node.name not in only:
            used |= _deps(node, False) & only
    _refs(graph.output, used)
    return used & only


def _inputs(graph: Graph, only: set[str]) -> list[str]:
    needed: list[str] = []
    for node in graph.nodes:
        if node.name in only:
            for dep in sorted(_deps(node) - only):
                if dep not in needed:
                    needed.append(dep)
    return needed


def _downstream(graph: Graph, only: set[str], roots: set[str]) -> set[str]:
    """The steps of ``only`` that read any of ``roots``, directly or through others."""
    tainted: set[str] = set()
    for node in graph.nodes:
        if node.name in only and _deps(node) & (roots | tainted):
            tainted.add(node.name)
    return tainted


def _likes(graph: Graph, only: set[str]) -> list[str]:
    """The tensors outside the shape-only steps that their ``like=`` arguments name."""
    found: list[str] = []
    for node in graph.nodes:
        like = node.kwargs.get("like") if node.name in only else None
        if isinstance(like, Ref) and like.name not in only and like.name not in found:
            found.append(like.name)
    return found


def _inner(node: Node, only: set[str]) -> Node:
    """The step as the function runs it: ``like=`` of an outside tensor becomes ``like``."""
    like = node.kwargs.get("like")
    if isinstance(like, Ref) and like.name not in only:
        return Node(node.name, node.kind, node.target, node.args,
                    {**node.kwargs, "like": Ref("like")}, node.origin)
    return node


__all__ = ["split", "CREATION", "IMPURE", "MIN_STEPS"]
