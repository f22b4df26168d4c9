"""``plait explain``: a Program in readable form — upstream calls, batches, waves,
dependencies and the critical path (the longest chain of dependent calls)."""
from __future__ import annotations

from .model import CallResolver, ExprResolver, HttpResolver
from .opcodes import Op
from .program import GatherSpec, Program, StepSpec


def describe_step(step: StepSpec) -> str:
    resolver = step.resolver
    if isinstance(resolver, HttpResolver):
        url = resolver.url.source()
        query = "&".join(f"{q.key}={q.value.source()}" for q in resolver.query)
        target = f"{resolver.method} {url}{'?' + query if query else ''}"
        extras = []
        if resolver.batch_key:
            extras.append(f"batched by {'.'.join(resolver.batch_key)}")
        if resolver.dedupe:
            extras.append("dedupe")
        return f"@http {target}" + (f" ({', '.join(extras)})" if extras else "")
    if isinstance(resolver, ExprResolver):
        return "@expr (no upstream call)"
    if isinstance(resolver, CallResolver):
        chain = " → ".join(f"{s.kind} {s.field}" for s in resolver.steps)
        return f"@call {chain}"
    return f"@{type(resolver).__name__.removesuffix('Resolver').lower()}"


def _segments(spec: GatherSpec) -> str:
    parts = []
    for segment in spec.segments:
        if segment[0] == "key":
            parts.append(str(segment[1]))
        elif segment[0] == "index":
            parts.append(f"[{segment[1]}]")
        else:
            parts.append(f"(on {segment[2]})")
    return ".".join(parts)


def explain_program(program: Program) -> str:
    lines = [f"{program.operation} — {len(program.steps)} step(s), "
             f"{len(program.code) // 4} instruction(s)"]
    if program.guards:
        from .auth import describe_requirement

        lines.append("auth (checked once before any call): " + "; ".join(
            describe_requirement(requirement) for requirement in program.guards))
    depth: dict[int, int] = {}
    wave = 1
    lines.append(f"wave {wave}:")
    code, consts = program.code, program.consts
    for pc in range(0, len(code), 4):
        op, a, b, c = code[pc:pc + 4]
        if op in (Op.FETCH, Op.BATCH, Op.EXPR):
            step: StepSpec = consts[b]
            parent = program.parents.get(step.slot, -1)
            depth[step.slot] = depth.get(parent, 0) + (0 if op == Op.EXPR else 1)
            after = f" after #{parent}" if parent >= 0 else ""
            kind = {Op.FETCH: "fetch", Op.BATCH: "batch", Op.EXPR: "expr"}[Op(op)]
            lines.append(f"  #{step.slot} {kind} {step.label} for r{c}{after}: "
                         f"{describe_step(step)}")
        elif op == Op.GATHER:
            spec: GatherSpec = consts[c]
            source = f"#{spec.source_slot}" if spec.source_slot >= 0 else "root"
            path = _segments(spec)
            lines.append(f"  r{a} = objects of {source}" + (f" at {path}" if path else ""))
        elif op == Op.AWAIT:
            wave += 1
            lines.append("  await")
            if code[pc + 4] != Op.WRITE:
                lines.append(f"wave {wave}:")
        elif op == Op.WRITE:
            lines.append("write response")
    critical = max(depth.values(), default=0)
    lines.append(f"critical path: {critical} dependent upstream call(s)")
    return "\n".join(lines)
