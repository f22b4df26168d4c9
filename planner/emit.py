"""Emit a Program from a Plan: fetch waves, then one WRITE of the response shape.

Wave *k* holds the steps whose parent step is in wave *k-1*: every fetch of a wave is
started before one AWAIT, so independent calls run concurrently and each step serves all
parent objects of its level at once. Mutation root fields run one after another, each with
its whole subtree (spec 6.2.2 serial execution).
"""
from __future__ import annotations

from typing import Any

from .model import ExprResolver, HttpResolver
from .op_ast import SourceText
from .opcodes import Op
from .plan import Plan, PlanStep
from .program import GatherSpec, Program


def _opcode(step: PlanStep) -> Op:
    resolver = step.spec.resolver
    if isinstance(resolver, HttpResolver) and resolver.batch_key:
        return Op.BATCH
    if isinstance(resolver, ExprResolver):
        return Op.EXPR
    return Op.FETCH


def emit(plan: Plan, source: SourceText) -> Program:
    code: list[int] = []
    consts: list[Any] = []
    registers = 1  # register 0 holds [root object]
    step_register: dict[int, int] = {}
    parents: dict[int, int] = {}

    def const(value: Any) -> int:
        consts.append(value)
        return len(consts) - 1

    sequences = [[root] for root in plan.roots] if plan.operation == "mutation" \
        else [plan.roots]
    for wave in sequences:
        while wave:
            groups: dict[tuple[int, tuple], list[PlanStep]] = {}
            for step in wave:
                parent_slot = step.parent.spec.slot if step.parent else -1
                groups.setdefault((parent_slot, step.segments), []).append(step)
            for (parent_slot, segments), steps in groups.items():
                if parent_slot == -1 and not segments:
                    register = 0
                else:
                    register = registers
                    registers += 1
                    source_register = step_register[parent_slot] if parent_slot >= 0 else 0
                    code += [Op.GATHER, register, source_register,
                             const(GatherSpec(parent_slot, segments))]
                for step in steps:
                    step_register[step.spec.slot] = register
                    parents[step.spec.slot] = parent_slot
                    code += [_opcode(step), step.spec.slot, const(step.spec), register]
            code += [Op.AWAIT, 0, 0, 0]
            wave = [child for step in wave for child in step.children]
    code += [Op.WRITE, const(plan.shape), 0, 0, Op.HALT, 0, 0, 0]
    program = Program(tuple(int(c) for c in code), tuple(consts), registers, len(plan.steps),
                      plan.shape, plan.operation, source, plan.steps, parents)
    program.introspects = plan.introspects
    program.cache_max_age_ms = plan.cache_max_age_ms
    program.guards = plan.guards
    return program


