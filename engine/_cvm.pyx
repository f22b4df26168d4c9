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
from plait.engine.values import FieldError, lookup, lookup_mapped, materialize
from plait.planner import program as _program

cdef int SOURCE_KEY = _program.SOURCE_KEY
cdef int SOURCE_PATH = _program.SOURCE_PATH
cdef int SOURCE_STEP = _program.SOURCE_STEP
cdef int SOURCE_TYPENAME = _program.SOURCE_TYPENAME
cdef int SOURCE_INTROSPECTION = _program.SOURCE_INTROSPECTION
cdef int SOURCE_ERROR = _program.SOURCE_ERROR

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
            runtime.start_fetch(ctx, consts[b], registers[c], slots[a], group_parents)
        elif op == OP_BATCH:
            runtime.start_batch(ctx, consts[b], registers[c], slots[a])
        elif op == OP_EXPR:
            runtime.run_expr(ctx, consts[b], registers[c], slots[a])
        elif op == OP_AWAIT:
            await runtime.await_pending(ctx)
        elif op == OP_GATHER:
            registers[a] = gather(ctx, consts[c], registers[b], slots)
        elif op == OP_WRITE:
            writer = Writer(ctx, slots, program.source)
            data = writer.write_root(compile_shape(program), ctx.root)
            return data, writer.errors
        elif op == OP_HALT:
            return b"null", []
        else:
            raise RuntimeError(f"unknown opcode {op}")


_SCALARS = (str, int, float, bool, type(None))


def group_parents(ctx, list parents, tuple refs):
    """Compiled twin of ``runtime._group_parents``: parents whose referenced values are
    equal share one rendered request."""
    cdef dict groups, big_groups
    cdef dict cache = ctx.cache
    cdef dict parent_of = ctx.parent_of
    cdef list key
    cdef list plan = []
    cdef Py_ssize_t ident, n_refs = len(refs), i
    cdef tuple path
    if not refs:
        return [runtime._unique(parents)]
    for ref in refs:  # (reads the parent itself, path, the single key or None)
        path = ref.path
        plan.append((ref.root == "value", path, path[0] if len(path) == 1 else None))
    groups = {}
    # A parent listed twice (one object reached from two places) is grouped once. Equal
    # objects have equal keys, so only its own group can hold it: a small group is
    # searched by identity, a large one keeps a set of identities (big_groups).
    big_groups = {}
    for parent in parents:
        if n_refs == 1:  # the usual template: one value, keyed without a list
            group_key = _ref_key(parent, <tuple>plan[0], cache, parent_of)
        else:
            key = []
            for i in range(n_refs):
                key.extend(_ref_key(parent, <tuple>plan[i], cache, parent_of))
            group_key = tuple(key)
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [parent]
            continue
        if len(<list>group) < SMALL_GROUP:
            if _holds(<list>group, parent):
                continue
        else:
            idents = big_groups.get(group_key)
            if idents is None:
                idents = big_groups[group_key] = {id(member) for member in <list>group}
            ident = id(parent)
            if ident in <set>idents:
                continue
            (<set>idents).add(ident)
        (<list>group).append(parent)
    return list(groups.values())


#: Groups up to this size are searched member by member for a parent listed twice.
cdef Py_ssize_t SMALL_GROUP = 16


cdef inline bint _holds(list group, object parent):
    for member in group:
        if member is parent:
            return True
    return False


cdef tuple _ref_key(parent, tuple ref_plan, dict cache, dict parent_of):
    """(type, value) of what one template reference reads for ``parent``: equal keys
    render equally (the type keeps True, 1 and 1.0 apart, whose renderings differ)."""
    from_value, path, single = ref_plan
    holder = parent if from_value else parent_of.get(id(parent))
    if single is not None and type(holder) is dict:
        value = (<dict>holder).get(single)
    else:
        value = lookup(holder, path, cache) if path else holder
    if type(value) is Raw:
        raw = value
        value = _decode(raw)  # a small scalar decodes faster than bytes() copies
        if not isinstance(value, _SCALARS):
            value = bytes(raw)  # an object or list: its text is its key
    elif not isinstance(value, _SCALARS):
        value = _encode(runtime.plain(value))
    return (type(value), value)


cdef int _flatten_into(object value, list out, dict cache, object holder,
                       dict parent_of) except -1:
    if type(value) is Raw:
        value = materialize(value, cache)
    if type(value) is dict:
        parent_of[id(value)] = holder
        out.append(value)
    elif type(value) is list:
        for item in <list>value:
            _flatten_into(item, out, cache, holder, parent_of)
    elif isinstance(value, dict):
        parent_of[id(value)] = holder
        out.append(value)
    return 0


def gather(ctx, spec, list sources, list slots):
    """Compiled twin of ``runtime.gather``."""
    cdef dict cache = ctx.cache
    cdef dict parent_of = ctx.parent_of
    cdef list current = []
    cdef list following
    cdef dict results
    if spec.source_slot >= 0:
        results = slots[spec.source_slot]
        for parent in sources:
            value = results.get(id(parent))
            if value is not None and type(value) is not FieldError:
                _flatten_into(value, current, cache, parent, parent_of)
    else:
        current = list(sources)
    segments = spec.segments
    for position in range(len(segments)):
        segment = segments[position]
        kind = segment[0]
        following = []
        # Before an index segment, keep each list whole, as (list, its holder) pairs.
        indexed = position + 1 < len(segments) and segments[position + 1][0] == "index"
        if kind == "key":
            name = segment[1]
            for item in current:
                if indexed:
                    following.append((materialize((<dict>item).get(name), cache), item))
                else:
                    _flatten_into((<dict>item).get(name), following, cache, item, parent_of)
        elif kind == "index":
            for value, holder in current:
                if isinstance(value, list) and segment[1] < len(value):
                    if indexed:
                        following.append((materialize(value[segment[1]], cache), holder))
                    else:
                        _flatten_into(value[segment[1]], following, cache, holder, parent_of)
        else:
            following = runtime.select_type(segment[1], segment[2], current, cache,
                                            parent_of)
        current = following
    return current


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

cdef enum LeafKind:
    LK_NONE = 0
    LK_STRING = 1
    LK_INT = 2
    LK_FLOAT = 3
    LK_BOOLEAN = 4
    LK_ID = 5
    LK_ENUM = 6
    LK_CUSTOM = 7
    LK_CHECKED = 8

cdef dict _LEAF_KINDS = {"String": LK_STRING, "Int": LK_INT, "Float": LK_FLOAT,
                         "Boolean": LK_BOOLEAN, "ID": LK_ID, "enum": LK_ENUM,
                         "custom": LK_CUSTOM, "checked": LK_CHECKED}


cdef class CType:
    """A TypeRef with C-level flags: ``of`` is the item type of a list, else None."""

    cdef bint non_null
    cdef CType of
    cdef object ref


cdef class CObject:
    cdef bytes typename_json
    cdef list fields


cdef class CField:
    cdef bytes key
    cdef str response_key
    cdef int source
    cdef object source_arg
    cdef int slot
    cdef CType type
    cdef int leaf_kind
    cdef object leaf
    cdef CObject object
    cdef object abstract
    cdef dict abstract_shapes
    cdef object shape


cdef CType _compile_type(ref):
    cdef CType compiled = CType.__new__(CType)
    compiled.non_null = ref.non_null
    compiled.ref = ref
    compiled.of = _compile_type(ref.of) if ref.of is not None else None
    return compiled


cdef CObject _compile_object(shape):
    cdef CObject compiled = CObject.__new__(CObject)
    cdef CField field
    compiled.typename_json = shape.typename_json
    compiled.fields = []
    for item in shape.fields:
        field = CField.__new__(CField)
        field.key = item.key
        field.response_key = item.response_key
        field.source = item.source
        field.source_arg = item.source_arg
        field.slot = item.source_arg if item.source == SOURCE_STEP else -1
        field.type = _compile_type(item.type)
        field.leaf = item.leaf
        field.leaf_kind = _LEAF_KINDS[item.leaf.kind] if item.leaf is not None else LK_NONE
        field.object = _compile_object(item.object) if item.object is not None else None
        field.abstract = item.abstract
        field.abstract_shapes = None
        if item.abstract is not None:
            field.abstract_shapes = {name: _compile_object(child)
                                     for name, child in item.abstract.shapes.items()}
        field.shape = item
        compiled.fields.append(field)
    return compiled


def compile_shape(program):
    """The program's response shape in C-friendly form (cached on the program)."""
    if program.compiled is None:
        program.compiled = _compile_object(program.shape)
    return program.compiled


cdef class Writer:
    """Writes the response JSON for a shape tree (see ``refvm.Writer``)."""

    cdef object ctx
    cdef object source
    cdef dict cache
    cdef list slots
    cdef Buffer buf
    cdef list path
    cdef public list errors

    def __init__(self, ctx, list slots, source):
        self.ctx = ctx
        self.source = source
        self.cache = ctx.cache
        self.slots = slots
        self.buf = Buffer()
        self.path = []
        self.errors = []

    def write_root(self, shape, root):
        cdef CObject compiled = shape if isinstance(shape, CObject) else _compile_object(shape)
        if not self.write_object(compiled, root):
            return b"null"
        return self.buf.value()

    cdef void error(self, str message, CField field, extensions=None):
        line, column = self.source.location(field.shape.offset)
        entry = {"message": message, "locations": [{"line": line, "column": column}],
                 "path": list(self.path)}
        if extensions:
            entry["extensions"] = extensions
        self.errors.append(entry)

    cdef int write_object(self, CObject shape, dict obj) except -1:
        cdef Buffer buf = self.buf
        cdef bint first = True
        cdef int source
        cdef CField field
        cdef list path = self.path
        buf.write("{", 1)
        for field in shape.fields:
            if not first:
                buf.write(",", 1)
            first = False
            buf.write_bytes(field.key)
            path.append(field.response_key)
            source = field.source
            if source == SOURCE_KEY:
                value = obj.get(field.source_arg)
            elif source == SOURCE_STEP:
                value = (<dict>self.slots[field.slot]).get(id(obj))
            elif source == SOURCE_TYPENAME:
                buf.write_bytes(shape.typename_json)
                path.pop()
                continue
            elif source == SOURCE_PATH:
                value = lookup_mapped(obj, field.source_arg, self.cache)
            elif source == SOURCE_ERROR:  # a @protected field this request may not read
                value = field.source_arg
            else:
                value = self.ctx.introspect(field.shape.node)
                if type(value) is not FieldError:
                    buf.write_bytes(_encode(value))
                    path.pop()
                    continue
            ok = self.write_value(field, field.type, value)
            path.pop()
            if not ok:
                return 0
        buf.write("}", 1)
        return 1

    cdef int write_value(self, CField field, CType type_ref, value) except -1:
        cdef Buffer buf = self.buf
        cdef Py_ssize_t start
        cdef int ok
        if type(value) is Raw:
            if field.leaf_kind != LK_NONE and type_ref.of is None:
                value = self.raw_leaf(field, value)
                if value is _WRITTEN:
                    return 1
            else:
                value = materialize(value, self.cache)
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
        elif field.leaf_kind != LK_NONE:
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

    cdef int write_list(self, CField field, CType type_ref, value) except -1:
        cdef Buffer buf = self.buf
        cdef Py_ssize_t index, size
        cdef CType item_type = type_ref.of
        cdef list items
        cdef list path = self.path
        if not isinstance(value, list):
            self.error(f"Expected a list for {_owner(field)} ({type_ref.ref}), found "
                       f"{describe(value)}.", field)
            return 0
        items = <list>value
        size = len(items)
        buf.write("[", 1)
        for index in range(size):
            if index:
                buf.write(",", 1)
            path.append(index)
            ok = self.write_value(field, item_type, items[index])
            path.pop()
            if not ok:
                return 0
        buf.write("]", 1)
        return 1

    cdef int write_composite(self, CField field, value) except -1:
        cdef CObject shape
        if type(value) is Raw:
            value = materialize(value, self.cache)
        if not isinstance(value, dict):
            self.error(f"Expected an object for {_owner(field)}, found {describe(value)}.",
                       field)
            return 0
        shape = field.object
        if shape is None:
            name, value = runtime.resolve_object(field.abstract, value, self.cache)
            if name is None:
                self.error(f"Could not determine the object type of a {field.abstract.name} "
                           f"value at {_owner(field)}.", field)
                return 0
            shape = field.abstract_shapes[name]
        return self.write_object(shape, <dict>value)

    cdef object raw_leaf(self, CField field, raw):
        """Copy a leaf straight from the upstream bytes when it needs no conversion."""
        cdef Py_buffer view
        cdef const unsigned char* data
        cdef Py_ssize_t size, i
        cdef unsigned char first, ch
        cdef bint integral = True
        cdef int kind = field.leaf_kind
        PyObject_GetBuffer(raw, &view, PyBUF_SIMPLE)
        try:
            data = <const unsigned char*>view.buf
            size = view.len
            if size == 0:
                return _decode(b"")
            first = data[0]
            if first == 110:  # null
                return None
            if kind == LK_CUSTOM or (first == 34 and (kind == LK_STRING or kind == LK_ID)):
                self.buf.write(<const char*>data, size)
                return _WRITTEN
            if kind == LK_BOOLEAN and ((size == 4 and first == 116) or
                                       (size == 5 and first == 102)):
                self.buf.write(<const char*>data, size)
                return _WRITTEN
            if (first == 45 or 48 <= first <= 57) and \
                    (kind == LK_INT or kind == LK_FLOAT or kind == LK_ID):
                for i in range(size):
                    ch = data[i]
                    if ch == 46 or ch == 101 or ch == 69:
                        integral = False
                        break
                if integral:
                    if kind == LK_FLOAT or (kind == LK_INT and size < 10):
                        self.buf.write(<const char*>data, size)
                        return _WRITTEN
                    if kind == LK_ID:
                        self.buf.write('"', 1)
                        self.buf.write(<const char*>data, size)
                        self.buf.write('"', 1)
                        return _WRITTEN
            return _decode(PyBytes_FromStringAndSize(<const char*>data, size))
        finally:
            PyBuffer_Release(&view)


cdef str _owner(CField field):
    node = field.shape.node
    return f"{field.shape.owner}.{node.name if node is not None else field.response_key}"
