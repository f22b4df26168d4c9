"""The reference VM: the pure-Python twin of ``_cvm`` (same instructions, same output).

``PLAIT_NO_EXTENSIONS=1`` selects it; tests run every engine case on both. The response
writer follows spec 6.4.3 (value completion) and 6.4.4 (errors and non-null): a failed
field becomes null with a located error, and a null in a non-null position makes the
nearest nullable ancestor null — only that ancestor, siblings keep their data.
"""
from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Raw

from plait.planner.model import TypeRef
from plait.planner.opcodes import Op
from plait.planner.program import (SOURCE_ERROR, SOURCE_INTROSPECTION, SOURCE_KEY,
                                   SOURCE_PATH, SOURCE_STEP, SOURCE_TYPENAME, FieldShape,
                                   LeafCoercer, ObjectShape, Program)

from . import runtime
from .coerce import coerce_leaf, describe
from .values import FieldError, lookup_mapped, materialize

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_NUMBER_START = frozenset(b"-0123456789")


async def run(program: Program, ctx: runtime.RequestContext) -> tuple[bytes, list[dict]]:
    """Execute ``program``; return the ``data`` JSON bytes and the field errors."""
    code, consts = program.code, program.consts
    registers: list[Any] = [None] * program.n_regs
    registers[0] = [ctx.root]
    slots: list[dict[int, Any]] = [{} for _ in range(program.n_slots)]
    pc = 0
    while True:
        op, a, b, c = code[pc], code[pc + 1], code[pc + 2], code[pc + 3]
        pc += 4
        if op == Op.FETCH:
            runtime.start_fetch(ctx, consts[b], registers[c], slots[a])
        elif op == Op.BATCH:
            runtime.start_batch(ctx, consts[b], registers[c], slots[a])
        elif op == Op.EXPR:
            runtime.run_expr(ctx, consts[b], registers[c], slots[a])
        elif op == Op.AWAIT:
            await runtime.await_pending(ctx)
        elif op == Op.GATHER:
            registers[a] = runtime.gather(ctx, consts[c], registers[b], slots)
        elif op == Op.WRITE:
            writer = Writer(ctx, slots, program.source)
            data = writer.write_root(consts[a], ctx.root)
            return data, writer.errors
        elif op == Op.HALT:
            return b"null", []
        else:  # pragma: no cover - the emitter only produces known opcodes
            raise RuntimeError(f"unknown opcode {op}")


class Writer:
    """Writes the response JSON for a shape tree into one buffer."""

    def __init__(self, ctx: runtime.RequestContext, slots: list[dict[int, Any]],
                 source: Any) -> None:
        self.ctx = ctx
        self.source = source
        self.cache = ctx.cache
        self.slots = slots
        self.buf = bytearray()
        self.path: list[str | int] = []
        self.errors: list[dict[str, Any]] = []

    def write_root(self, shape: ObjectShape, root: Any) -> bytes:
        if not self.write_object(shape, root):
            return b"null"
        return bytes(self.buf)

    def error(self, message: str, field: FieldShape, extensions: dict | None = None) -> None:
        line, column = self.source.location(field.offset)
        entry: dict[str, Any] = {"message": message,
                                 "locations": [{"line": line, "column": column}],
                                 "path": list(self.path)}
        if extensions:
            entry["extensions"] = extensions
        self.errors.append(entry)

    def write_object(self, shape: ObjectShape, obj: dict[str, Any]) -> bool:
        buf = self.buf
        buf += b"{"
        first = True
        for field in shape.fields:
            if not first:
                buf += b","
            first = False
            buf += field.key
            self.path.append(field.response_key)
            source = field.source
            if source == SOURCE_KEY:
                value = obj.get(field.source_arg)
            elif source == SOURCE_STEP:
                value = self.slots[field.source_arg].get(id(obj))
            elif source == SOURCE_TYPENAME:
                buf += shape.typename_json
                self.path.pop()
                continue
            elif source == SOURCE_PATH:
                value = lookup_mapped(obj, field.source_arg, self.cache)
            elif source == SOURCE_ERROR:  # a @protected field this request may not read
                value = field.source_arg
            else:  # SOURCE_INTROSPECTION
                assert source == SOURCE_INTROSPECTION
                value = self.ctx.introspect(field.node)
                if type(value) is not FieldError:
                    buf += _encode(value)
                    self.path.pop()
                    continue
            ok = self.write_value(field, field.type, value)
            self.path.pop()
            if not ok:
                return False
        buf += b"}"
        return True

    def write_value(self, field: FieldShape, type_ref: TypeRef, value: Any) -> bool:
        """Write ``value`` completed to ``type_ref``; False means a null reached a
        non-null position and the caller must null its own nearest nullable level."""
        buf = self.buf
        if type(value) is Raw:
            value = self._leaf_or_materialize(field, type_ref, value)
            if value is _WRITTEN:
                return True
        if value is None:
            if type_ref.non_null:
                self.error(f"Cannot return null for non-nullable field {_owner(field)}.",
                           field)
                return False
            buf += b"null"
            return True
        if type(value) is FieldError:
            self.error(value.message, field, value.extensions)
            if type_ref.non_null:
                return False
            buf += b"null"
            return True
        start = len(buf)
        if type_ref.of is not None:
            ok = self._write_list(field, type_ref, value)
        elif field.leaf is not None:
            ok = self._write_leaf(field, field.leaf, value)
        else:
            ok = self._write_composite(field, value)
        if ok:
            return True
        del buf[start:]
        if type_ref.non_null:
            return False
        buf += b"null"
        return True

    def _write_list(self, field: FieldShape, type_ref: TypeRef, value: Any) -> bool:
        if not isinstance(value, list):
            self.error(f"Expected a list for {_owner(field)} ({type_ref}), found "
                       f"{describe(value)}.", field)
            return False
        buf = self.buf
        buf += b"["
        item_type = type_ref.of
        assert item_type is not None
        for index, item in enumerate(value):
            if index:
                buf += b","
            self.path.append(index)
            ok = self.write_value(field, item_type, item)
            self.path.pop()
            if not ok:
                return False
        buf += b"]"
        return True

    def _write_composite(self, field: FieldShape, value: Any) -> bool:
        value = materialize(value, self.cache)
        if not isinstance(value, dict):
            self.error(f"Expected an object for {_owner(field)}, found {describe(value)}.",
                       field)
            return False
        shape = field.object
        if shape is None:
            assert field.abstract is not None
            name, value = runtime.resolve_object(field.abstract, value, self.cache)
            if name is None:
                self.error(f"Could not determine the object type of a {field.abstract.name} "
                           f"value at {_owner(field)}.", field)
                return False
            shape = field.abstract.shapes[name]
        return self.write_object(shape, value)

    def _leaf_or_materialize(self, field: FieldShape, type_ref: TypeRef, raw: Raw) -> Any:
        """Fast path: a leaf value copied from upstream bytes; else decode one level."""
        leaf = field.leaf
        if leaf is None or type_ref.of is not None:
            return materialize(raw, self.cache)
        data = bytes(raw)
        first = data[0]
        kind = leaf.kind
        if first == 110:  # null
            return None
        if kind == "String" and first == 34:
            self.buf += data
            return _WRITTEN
        if kind == "custom":
            self.buf += data
            return _WRITTEN
        if kind == "Boolean" and (data == b"true" or data == b"false"):
            self.buf += data
            return _WRITTEN
        if first in _NUMBER_START and kind in ("Int", "Float", "ID") and \
                b"." not in data and b"e" not in data and b"E" not in data:
            if kind == "Float" or (kind == "Int" and len(data) < 10):
                self.buf += data
                return _WRITTEN
            if kind == "ID":
                self.buf += b'"' + data + b'"'
                return _WRITTEN
        if kind == "ID" and first == 34:
            self.buf += data
            return _WRITTEN
        return _decode(data)

    def _write_leaf(self, field: FieldShape, leaf: LeafCoercer, value: Any) -> bool:
        out = coerce_leaf(leaf, value)
        if type(out) is str:
            self.error(out, field)
            return False
        self.buf += out
        return True


class _Written:
    """Marks a leaf already copied into the buffer by the fast path."""


_WRITTEN: Any = _Written()


def _owner(field: FieldShape) -> str:
    node = field.node
    return f"{field.owner}.{node.name if node else field.response_key}"
