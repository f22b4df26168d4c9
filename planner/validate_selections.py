"""Spec 5.3.1, 5.3.3, 5.4, 5.5.1.2–3, 5.5.2.3, 5.6, 5.7: what each selection asks for.

Fields exist on their parent type; leaves have no selection and composites have one;
arguments are known, unique, required ones given and literals well typed; fragments name
existing composite types and can apply where they are spread; directives are known,
in place and not repeated. Walks each selection set once (fragments are checked on their
own definitions, not at every spread), so the work is linear in the document.
"""
from __future__ import annotations

from collections.abc import Iterable

from .diagnostics import Loc, suggest
from .model import INTERFACE, OBJECT, UNION, ArgDef, TypeRef
from .op_ast import (Argument, Directive, Field, FragmentDefinition, FragmentSpread,
                     InlineFragment, Selection)
from .query_errors import QueryError
from .schema_view import SchemaView
from .signature import field_body_signature
from .validate_values import VariableUsage, check_literal


class SelectionChecker:
    """Checks selection sets; collects errors, variable usages and fragment spreads."""

    def __init__(self, view: SchemaView, fragments: dict[str, FragmentDefinition],
                 signatures: dict[int, object] | None = None, body: str | None = None) -> None:
        self.view = view
        self.body = body
        self.fragments = fragments
        self.errors: list[QueryError] = []
        self.usages: list[VariableUsage] = []
        self.spreads: list[str] = []
        # Subtrees already checked without any finding: parent type → field body signatures.
        self._clean: dict[str, set[object]] = {}
        self._signatures: dict[int, object] = {} if signatures is None else signatures

    # -- directives ----------------------------------------------------------------------
    def directives(self, directives: Iterable[Directive], location: str) -> None:
        seen: set[str] = set()
        for directive in directives:
            definition = self.view.directives.get(directive.name)
            if definition is None:
                self.errors.append(QueryError(f'Unknown directive "@{directive.name}".',
                                              [directive.start]))
                continue
            if location not in definition.locations:
                self.errors.append(QueryError(f'Directive "@{directive.name}" may not be used '
                                              f"on {location}.", [directive.start]))
                continue
            if directive.name in seen and not definition.repeatable:
                self.errors.append(QueryError(f'The directive "@{directive.name}" can only be '
                                              "used once at this location.", [directive.start]))
            seen.add(directive.name)
            self.arguments(directive.arguments, definition.args, f"@{directive.name}",
                           directive.start, is_directive=True)

    # -- arguments -----------------------------------------------------------------------
    def arguments(self, given: list[Argument], defined: dict[str, ArgDef], owner: str,
                  start: int, is_directive: bool = False) -> None:
        seen: set[str] = set()
        for argument in given:
            if argument.name in seen:
                self.errors.append(QueryError(f'There can be only one argument named '
                                              f'"{argument.name}".', [argument.start]))
                continue
            seen.add(argument.name)
            definition = defined.get(argument.name)
            if definition is None:
                where = f'directive "{owner}"' if is_directive else f'field "{owner}"'
                self.errors.append(QueryError(
                    f'Unknown argument "{argument.name}" on {where}.'
                    f"{suggest(argument.name, defined)}", [argument.start]))
                continue
            check_literal(argument.value, definition.type, self.view, self.errors,
                          self.usages, has_default=definition.default is not None)
        for name, definition in defined.items():
            if definition.type.non_null and definition.default is None and name not in seen:
                what = f'Directive "{owner}"' if is_directive else f'Field "{owner}"'
                self.errors.append(QueryError(
                    f'{what} argument "{name}" of type "{definition.type}" is required, but '
                    "it was not provided.", [start]))

    # -- selections ----------------------------------------------------------------------
    def selection_set(self, selections: list[Selection], parent: str) -> None:
        clean = self._clean.get(parent)
        if clean is None:
            clean = self._clean[parent] = set()
        for selection in selections:
            if type(selection) is Field:
                # Inlined fast path of field(): an identical clean subtree is skipped ("",
                # the signature of a node no parser built, is never in ``clean``).
                if selection.signature not in clean:
                    self.field(selection, parent)
            elif isinstance(selection, FragmentSpread):
                self.directives(selection.directives, "FRAGMENT_SPREAD")
                self.spread(selection, parent)
            else:
                self.directives(selection.directives, "INLINE_FRAGMENT")
                self.inline_fragment(selection, parent)

    def field(self, node: Field, parent: str) -> None:
        """Check one field; a subtree identical to one already found clean (no errors, no
        variables, no fragment spreads) is not checked again."""
        signature = field_body_signature(node, self._signatures)
        clean = self._clean.setdefault(parent, set())
        if signature in clean:
            return
        before = (len(self.errors), len(self.usages), len(self.spreads))
        self._field(node, parent)
        if (len(self.errors), len(self.usages), len(self.spreads)) == before:
            clean.add(signature)

    def _field(self, node: Field, parent: str) -> None:
        self.directives(node.directives, "FIELD")
        definition = self.view.field(parent, node.name)
        if definition is None:
            self.errors.append(QueryError(f'Cannot query field "{node.name}" on type '
                                          f'"{parent}".{self._field_hint(node.name, parent)}',
                                          [node.start]))
            for argument in node.arguments:  # still find variable usages
                check_literal(argument.value, _ANY, self.view, [], self.usages)
            return
        self.arguments(node.arguments, definition.args, f"{parent}.{node.name}", node.start)
        target = self.view.types.get(definition.type.named)
        if target is None:
            return
        if target.is_leaf and node.selections is not None:
            self.errors.append(QueryError(
                f'Field "{node.name}" must not have a selection since type '
                f'"{definition.type}" has no subfields.', [node.start]))
        elif target.is_composite and node.selections is None:
            self.errors.append(QueryError(
                f'Field "{node.name}" of type "{definition.type}" must have a selection of '
                f'subfields. Did you mean "{node.name} {{ ... }}"?', [node.start]))
        elif node.selections is not None:
            self.selection_set(node.selections, target.name)

    def _field_hint(self, name: str, parent: str) -> str:
        target = self.view.types.get(parent)
        if target is None:
            return ""
        if target.kind in (INTERFACE, UNION):
            having = sorted(t for t in target.possible
                            if name in self.view.types[t].fields)
            if having:
                shown = " or ".join(f'"{t}"' for t in having[:5])
                return f" Did you mean to use an inline fragment on {shown}?"
        return suggest(name, target.fields)

    def spread(self, node: FragmentSpread, parent: str) -> None:
        self.spreads.append(node.name)
        fragment = self.fragments.get(node.name)
        if fragment is None:
            self.errors.append(QueryError(f'Unknown fragment "{node.name}".', [node.start]))
            return
        if fragment.type_condition in self.view.types and \
                not self._can_apply(fragment.type_condition, parent):
            self.errors.append(QueryError(
                f'Fragment "{node.name}" cannot be spread here as objects of type "{parent}" '
                f'can never be of type "{fragment.type_condition}".', [node.start]))

    def inline_fragment(self, node: InlineFragment, parent: str) -> None:
        condition = node.type_condition or parent
        if not self.type_condition(condition, node.type_start or node.start, None):
            return
        if not self._can_apply(condition, parent):
            self.errors.append(QueryError(
                f'Fragment cannot be spread here as objects of type "{parent}" can never be '
                f'of type "{condition}".', [node.start]))
            return
        self.selection_set(node.selections, condition)

    def type_condition(self, name: str, start: int, fragment: str | None) -> bool:
        """Spec 5.5.1.2–3: the type exists and is composite."""
        target = self.view.types.get(name)
        if target is None:
            self.errors.append(QueryError(f'Unknown type "{name}".'
                                          f"{suggest(name, self._composites())}", [start]))
            return False
        if not target.is_composite:
            what = f'Fragment "{fragment}"' if fragment else "Fragment"
            self.errors.append(QueryError(f'{what} cannot condition on non composite type '
                                          f'"{name}".', [start]))
            return False
        return True

    def _composites(self) -> list[str]:
        return [n for n, t in self.view.types.items() if t.is_composite and not t.introspection]

    def _can_apply(self, condition: str, parent: str) -> bool:
        """Spec 5.5.2.3: the possible types of both intersect."""
        a, b = self.view.types.get(condition), self.view.types.get(parent)
        if a is None or b is None:
            return True
        return bool(a.possible & b.possible) or (a.kind == OBJECT and a.name == b.name)


#: A type no schema has: values under unknown fields are walked only to find variables.
_ANY = TypeRef("__Unknown", None, False, Loc("<query>", 0, 0))
