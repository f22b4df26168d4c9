"""Pass 7: ``@call`` steps name real root fields with real arguments, and never cycle.

Steps run in order; each step after the first receives the previous step's result as
its arguments (merged under the ``args`` written on the step), as Tailcall composes them,
so a later step's ``{{.args.x}}`` must name a field of the previous step's result type.
"""
from __future__ import annotations

from .check_templates import _walk_output
from .diagnostics import Diagnostics, Loc, did_you_mean
from .model import CallResolver, CallStep, FieldDef, TypeDef


def check_calls(types: dict[str, TypeDef], query: str, mutation: str | None,
                diags: Diagnostics) -> None:
    roots = {"query": query, "mutation": mutation}
    # edges: "Type.field" -> [(target "Root.field", loc of the step)]
    edges: dict[str, list[tuple[str, Loc]]] = {}
    owners = [(t.name, t.resolver) for t in types.values()] + \
        [(f"{t.name}.{f.name}", f.resolver) for t in types.values() for f in t.fields.values()]
    for source, resolver in owners:
        if isinstance(resolver, CallResolver):
            previous: FieldDef | None = None
            for number, step in enumerate(resolver.steps):
                if number > 0:
                    _check_step_refs(step, previous, types, diags)
                previous = None
                root_name = roots[step.kind]
                root = types.get(root_name) if root_name else None
                if root is None:
                    diags.error(step.loc, f"@call on {source}: the schema has no {step.kind} "
                                "type")
                    continue
                target = root.fields.get(step.field)
                if target is None:
                    diags.error(step.loc, f'@call on {source}: {root.name} has no field '
                                f'"{step.field}"{did_you_mean(step.field, root.fields)}')
                    continue
                previous = target
                args = step.args.value if isinstance(step.args.value, dict) else {}
                for name in args:
                    if name not in target.args:
                        diags.error(step.loc, f'@call on {source}: {root.name}.{step.field} '
                                    f'has no argument "{name}"'
                                    f"{did_you_mean(name, target.args)}")
                # Steps after the first also take their arguments from the previous
                # step's result (Tailcall's @call composition), so only the first step's
                # required arguments can be checked here.
                for name, arg in target.args.items():
                    if number == 0 and arg.type.non_null and arg.default is None and \
                            name not in args:
                        diags.error(step.loc, f"@call on {source}: {root.name}.{step.field} "
                                    f'needs argument "{name}" ({arg.type})')
                edges.setdefault(source, []).append((f"{root.name}.{step.field}", step.loc))
    _report_cycles(edges, diags)


def _check_step_refs(step: CallStep, previous: FieldDef | None, types: dict[str, TypeDef],
                     diags: Diagnostics) -> None:
    """A later step's ``{{.args...}}`` paths walk the previous step's result type."""
    start = types.get(previous.type.named) if previous is not None else None
    if start is None:
        return
    for template in step.args.templates():
        for ref in template.refs:
            if ref.root == "args" and ref.path:
                _walk_output(ref, ref.path, start, types, ref.loc or step.loc, diags)


def _report_cycles(edges: dict[str, list[tuple[str, Loc]]], diags: Diagnostics) -> None:
    """Iterative DFS; each cycle is reported once, at the step that closes it."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    reported: set[frozenset[str]] = set()
    for start in edges:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        state[start] = 1
        while stack:
            node, index = stack[-1]
            targets = edges.get(node, [])
            if index >= len(targets):
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            stack[-1] = (node, index + 1)
            target, loc = targets[index]
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    diags.error(loc, "cyclic @call: " + " → ".join(cycle),
                                "a @call chain must end in a field with its own resolver")
            elif not state.get(target):
                state[target] = 1
                stack.append((target, 0))
                path.append(target)
