"""What is particular to an ATen graph from ``torch.export``: its lifted weights, its
output nest, and the runs of nodes that one call of a leaf layer produced (folded back
into one layer call), plus the flattened matrix products of Hugging Face's ``Conv1D``
(see ``folded_linears``)."""

from __future__ import annotations

from typing import Any

from torch import fx

from . import layers


def lifted(signature: Any, name: str) -> str | None:
    """The dotted path of a lifted parameter / buffer / constant placeholder, else None."""
    for spec in signature.input_specs:
        if spec.arg.name == name and spec.kind.name != "USER_INPUT":
            return spec.target
    return None


def unflatten(leaves: list, spec: Any) -> Any:
    """Rebuilds the output nest (tuples, lists; dicts and dict-like outputs such as
    Hugging Face's ``ModelOutput`` become dicts)."""
    items = iter(leaves)

    def build(node: Any) -> Any:
        if node.is_leaf():
            return next(items)
        children = [build(child) for child in node.children()]
        kind = node.type
        if kind in (tuple, list):
            return kind(children)
        if isinstance(node.context, (list, tuple)) and len(node.context) == len(children) \
                and all(isinstance(k, str) for k in node.context):
            return dict(zip(node.context, children, strict=True))
        if isinstance(node.context, list) and node.context and isinstance(
                node.context[-1], list):  # dict context: [..., keys]
            return dict(zip(node.context[-1], children, strict=True))
        return tuple(children)

    return build(spec)


class Group:
    def __init__(self, path: str, nodes: list, input: fx.Node, output: fx.Node):
        self.path, self.nodes, self.input, self.output = path, nodes, input, output


def layer_groups(tr: Any) -> dict[fx.Node, Group]:
    """ATen nodes that one call of a leaf layer produced, collapsed to that call.

    A run of consecutive nodes whose innermost ``nn_module_stack`` entry is the same
    call of a layer polymod maps becomes one group when it reads exactly one tensor
    from outside (besides the layer's own weights) and one of its results is used
    outside; otherwise its nodes are converted one by one.
    """
    signature = tr.exported.graph_signature
    lifted = {spec.arg.name: spec.target for spec in signature.input_specs
              if spec.kind.name != "USER_INPUT"}
    user_outputs = {o.arg.name for o in signature.output_specs if o.kind.name == "USER_OUTPUT"}
    runs: list[tuple[Any, str, list]] = []
    for node in tr.graph.nodes:
        if node.op != "call_function":
            continue
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            continue
        key, (path, _) = list(stack.items())[-1]
        module = tr._modules.get(path)
        if module is None or not layers.is_layer(module):
            continue
        if runs and runs[-1][0] == key and runs[-1][2][-1].next is node:
            runs[-1][2].append(node)
        else:
            runs.append((key, path, [node]))
    groups: dict[fx.Node, Group] = {}
    for _, path, nodes in runs:
        members = set(nodes)
        outside_inputs: list[fx.Node] = []
        for node in nodes:
            for arg in node.all_input_nodes:
                if arg in members or arg in outside_inputs:
                    continue
                target = lifted.get(arg.name)
                if target is not None and target.startswith(path + "."):
                    continue
                outside_inputs.append(arg)
        used_outside = [n for n in nodes if any(
            u not in members and (u.op != "output" or n.name in user_outputs) for u in n.users)]
        if len(outside_inputs) == 1 and len(used_outside) == 1:
            group = Group(path, nodes, outside_inputs[0], used_outside[0])
            for node in nodes:
                groups[node] = group
    return groups


def folded_linears(graph: fx.Graph, exclude: set) -> dict[fx.Node, tuple[str, fx.Node]]:
    """``view(x, [-1, K]) -> addmm(b, ., W) -> view(., [*x.shape[:-1], N])`` (Hugging Face's
    ``Conv1D``, and linear layers exported as ATen ops) as one ``x @ W + b`` on ``x``
    itself: two reshapes fewer per call. Returns ``{first view: ('skip', x), addmm:
    ('matmul', x), last view: ('same', addmm)}`` for every such chain whose sizes the
    trace proves equal (and none of whose nodes is in ``exclude``: folded layer calls).
    """
    folds: dict[fx.Node, tuple[str, fx.Node]] = {}
    for node in graph.nodes:
        if _aten(node) not in ("addmm", "mm") or node.kwargs or len(node.users) != 1:
            continue
        flat = node.args[1] if _aten(node) == "addmm" else node.args[0]
        (unflat,) = node.users
        if _aten(flat) != "view" or len(flat.users) != 1 or _aten(unflat) != "view":
            continue
        if {flat, node, unflat} & exclude:
            continue
        x = flat.args[0]
        before, after = _sizes(x), _sizes(unflat)
        if before is None or after is None or len(before) < 3 or \
                before[:-1] != after[:-1] or list(flat.args[1])[:1] != [-1]:
            continue
        folds[flat] = ("skip", x)
        folds[node] = ("matmul", x)
        folds[unflat] = ("same", node)
    return folds


def _aten(node: Any) -> str | None:
    target = getattr(node, "target", None)
    packet = getattr(target, "overloadpacket", None)
    return getattr(packet, "__name__", None)


def _sizes(node: fx.Node) -> tuple | None:
    value = node.meta.get("val")
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(str(d) for d in shape)
