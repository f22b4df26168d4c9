# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled VM: the Cython twin of ``plait.engine.refvm`` (same instructions, same
output, same errors). The dispatch loop and the response writer are compiled; upstream
calls, batching and gathering call the shared ``runtime`` functions. Leaves that pass
through unchanged are copied from the upstream bytes (``msgspec.Raw``) with ``memcpy``.
"""
include "opcodes.pxi"

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy

import msgspec
from msgspec import Raw

from plait.engine import runtime
from plait.engine.coerce import coerce_leaf, describe
from plait.engine.values import FieldError, lookup, materialize
from plait.planner import program as _program

cdef int SOURCE_KEY = _program.SOURCE_KEY
cdef int SOURCE_PATH = _program.SOURCE_PATH
cdef int SOURCE_STEP = _program.SOURCE_STEP
cdef int SOURCE_TYPENAME = _program.SOURCE_TYPENAME
cdef int SOURCE_INTROSPECTION = _program.SOURCE_INTROSPECTION

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def opcode_values():
    """Return ``{name: value}`` for every opcode as compiled into this module."""
    return dict(COMPILED_OPCODES)


cpdef str opcode_name(int op):
    """Return the name of opcode ``op``; ``ValueError`` if it is not an opcode."""
    for name, value in COMPILED_OPCODES.items():
        if value == op:
            return name
    raise ValueError(f"unknown opcode {op}")


async def run(program, ctx):
    """Execute ``program``; return the ``data`` JSON bytes and the field errors."""
    cdef tuple code = program.code
    cdef tuple consts = program.consts
    cdef list registers = [None] * program.n_regs
    cdef list slots = [{} for _ in range(program.n_slots)]
    cdef Py_ssize_t pc = 0
    cdef int op, a, b, c
    cdef Writer writer
    registers[0] = [ctx.root]
    while True:
        op = code[pc]
        a = code[pc + 1]
        b = code[pc + 2]
        c = code[pc + 3]
        pc += 4
        if op == OP_FETCH:
            runtime.start_fetch(ctx, consts[b], registers[c], slots[a])
        elif op == OP_BATCH:
            runtime.start_batch(ctx, consts[b], registers[c], slots[a])
        elif op == OP_EXPR:
            runtime.run_expr(ctx, consts[b], registers[c], slots[a])
        elif op == OP_AWAIT:
            await runtime.await_pending(ctx)
        elif op == OP_GATHER:
            registers[a] = runtime.gather(ctx, consts[c], registers[b], slots)
        elif op == OP_WRITE:
            writer = Writer(ctx, slots)
            data = writer.write_root(consts[a], ctx.root)
            return data, writer.errors
        elif op == OP_HALT:
            return b"null", []
        else:
            raise RuntimeError(f"unknown opcode {op}")


cdef class Buffer:
    """A growable byte buffer (one allocation per response, amortised)."""

    cdef char* data
    cdef Py_ssize_t length
    cdef Py_ssize_t capacity

    def __cinit__(self, Py_ssize_t capacity=16384):
        self.data = <char*>malloc(capacity)
        if self.data == NULL:
            raise MemoryError()
        self.length = 0
        self.capacity = capacity

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef Py_ssize_t needed = self.length + extra
        cdef Py_ssize_t size = self.capacity
        cdef char* grown
        if needed <= size:
            return 0
        while size < needed:
            size *= 2
        grown = <char*>realloc(self.data, size)
        if grown == NULL:
            raise MemoryError()
        self.data = grown
        self.capacity = size
        return 0

    cdef inline int write(self, const char* source, Py_ssize_t size) except -1:
        if self.length + size > self.capacity:
            self.reserve(size)
        memcpy(self.data + self.length, source, size)
        self.length += size
        return 0

    cdef inline int write_bytes(self, bytes value) except -1:
        return self.write(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))

    cdef bytes value(self):
        return PyBytes_FromStringAndSize(self.data, self.length)


cdef object _WRITTEN = object()
cdef bytes _NULL = b"null"


cdef class Writer:
    """Writes the response JSON for a shape tree (see ``refvm.Writer``)."""

    cdef object ctx
    cdef dict cache
    cdef list slots
    cdef Buffer buf
    cdef list path
    cdef public list errors

    def __init__(self, ctx, list slots):
        self.ctx = ctx
        self.cache = ctx.cache
        self.slots = slots
        self.buf = Buffer()
        self.path = []
        self.errors = []

    def write_root(self, shape, root):
        if not self.write_object(shape, root):
            return b"null"
        return self.buf.value()

    cdef void error(self, str message, field, extensions=None):
        line, column = field.location
        entry = {"message": message, "locations": [{"line": line, "column": column}],
                 "path": list(self.path)}
        if extensions:
            entry["extensions"] = extensions
        self.errors.append(entry)

    cdef int write_object(self, shape, dict obj) except -1:
        cdef Buffer buf = self.buf
        cdef bint first = True
        cdef int source
        buf.write("{", 1)
        for field in shape.fields:
            if not first:
                buf.write(",", 1)
            first = False
            buf.write_bytes(field.key)
            self.path.append(field.response_key)
            source = field.source
            if source == SOURCE_KEY:
                value = obj.get(field.source_arg)
            elif source == SOURCE_STEP:
                value = (<dict>self.slots[field.source_arg]).get(id(obj))
            elif source == SOURCE_TYPENAME:
                buf.write_bytes(shape.typename_json)
                self.path.pop()
                continue
            elif source == SOURCE_PATH:
                value = lookup(obj, field.source_arg, self.cache)
            else:
                value = self.ctx.introspect(field.node)
                if type(value) is not FieldError:
                    buf.write_bytes(_encode(value))
                    self.path.pop()
                    continue
            ok = self.write_value(field, field.type, value)
            self.path.pop()
            if not ok:
                return 0
        buf.write("}", 1)
        return 1

    cdef int write_value(self, field, type_ref, value) except -1:
        cdef Buffer buf = self.buf
        cdef Py_ssize_t start
        cdef int ok
        if type(value) is Raw:
            value = self.raw_leaf(field, type_ref, value)
            if value is _WRITTEN:
                return 1
        if value is None:
            if type_ref.non_null:
                self.error(f"Cannot return null for non-nullable field {_owner(field)}.",
                           field)
                return 0
            buf.write("null", 4)
            return 1
        if type(value) is FieldError:
            self.error(value.message, field, value.extensions)
            if type_ref.non_null:
                return 0
            buf.write("null", 4)
            return 1
        start = buf.length
        if type_ref.of is not None:
            ok = self.write_list(field, type_ref, value)
        elif field.leaf is not None:
            out = coerce_leaf(field.leaf, value)
            if type(out) is str:
                self.error(out, field)
                ok = 0
            else:
                buf.write_bytes(out)
                ok = 1
        else:
            ok = self.write_composite(field, value)
        if ok:
            return 1
        buf.length = start
        if type_ref.non_null:
            return 0
        buf.write("null", 4)
        return 1

    cdef int write_list(self, field, type_ref, value) except -1:
        cdef Buffer buf = self.buf
        cdef Py_ssize_t index
        if not isinstance(value, list):
            self.error(f"Expected a list for {_owner(field)} ({type_ref}), found "
                       f"{describe(value)}.", field)
            return 0
        item_type = type_ref.of
        buf.write("[", 1)
        for index in range(len(<list>value)):
            if index:
                buf.write(",", 1)
            self.path.append(index)
            ok = self.write_value(field, item_type, (<list>value)[index])
            self.path.pop()
            if not ok:
                return 0
        buf.write("]", 1)
        return 1

    cdef int write_composite(self, field, value) except -1:
        value = materialize(value, self.cache)
        if not isinstance(value, dict):
            self.error(f"Expected an object for {_owner(field)}, found {describe(value)}.",
                       field)
            return 0
        shape = field.object
        if shape is None:
            name = runtime.resolve_type(field.abstract, value, self.cache)
            if name is None:
                self.error(f"Could not determine the object type of a {field.abstract.name} "
                           f"value at {_owner(field)}.", field)
                return 0
            shape = field.abstract.shapes[name]
        return self.write_object(shape, <dict>value)

    cdef object raw_leaf(self, field, type_ref, raw):
        """Copy a leaf straight from the upstream bytes when it needs no conversion."""
        cdef Py_buffer view
        cdef const unsigned char* data
        cdef Py_ssize_t size, i
        cdef unsigned char first, ch
        cdef bint integral = True
        leaf = field.leaf
        if leaf is None or type_ref.of is not None:
            return materialize(raw, self.cache)
        kind = leaf.kind
        PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
        try:
            data = <const unsigned char*>view.buf
            size = view.len
            if size == 0:
                return _decode(b"")
            first = data[0]
            if first == 110:  # null
                return None
            if kind == "custom" or (kind == "String" and first == 34) or \
                    (kind == "ID" and first == 34):
                self.buf.write(<const char*>data, size)
                return _WRITTEN
            if kind == "Boolean" and ((size == 4 and data[0] == 116) or
                                      (size == 5 and data[0] == 102)):
                self.buf.write(<const char*>data, size)
                return _WRITTEN
            if (first == 45 or 48 <= first <= 57) and \
                    (kind == "Int" or kind == "Float" or kind == "ID"):
                for i in range(size):
                    ch = data[i]
                    if ch == 46 or ch == 101 or ch == 69:
                        integral = False
                        break
                if integral:
                    if kind == "Float" or (kind == "Int" and size < 10):
                        self.buf.write(<const char*>data, size)
                        return _WRITTEN
                    if kind == "ID":
                        self.buf.write('"', 1)
                        self.buf.write(<const char*>data, size)
                        self.buf.write('"', 1)
                        return _WRITTEN
            return _decode(PyBytes_FromStringAndSize(<const char*>data, size))
        finally:
            PyBuffer_Release(&view)


cdef str _owner(field):
    node = field.node
    return f"{field.owner}.{node.name if node is not None else field.response_key}"
