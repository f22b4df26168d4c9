# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled parser: the Cython twin of :func:`plait.planner.op_parse.parse_operation_document`.

Same AST (the :mod:`op_ast` dataclasses, same offsets and values), same
:class:`~plait.planner.op_parse.GraphQLSyntaxError` messages and offsets, same limits, which
are read from :mod:`op_parse` on every call. Like the reference, the whole document is
lexed before parsing starts (so a lexical error wins over an earlier syntax error): a
hand-written character loop fills C arrays of token kinds and offsets; the recursive-descent
parser then walks them and builds the dataclasses. Names are sliced out of the document
only when the parser takes them; number and string values are decoded while lexing, as the
reference does (``int``/``float``/``json.loads`` errors surface at the same point).

For speed on large documents, nodes are built by filling the slots of the dataclasses
directly (after checking once that their constructors do nothing else), and the cyclic
garbage collector is paused while a document is parsed (a parse creates no cycles).
"""
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from cpython.unicode cimport PyUnicode_DATA, PyUnicode_KIND, PyUnicode_READ

import dataclasses
import json

cdef extern from "Python.h":
    int PyGC_Enable()
    int PyGC_Disable()

cdef extern from *:
    """
    #include <structmember.h>

    /* A fresh instance of a slotted dataclass, every slot unset (what object.__new__ does). */
    static PyObject *plait_op_alloc(PyObject *type) {
        return ((PyTypeObject *)type)->tp_alloc((PyTypeObject *)type, 0);
    }

    /* Fill an unset object slot (what the dataclass __init__ does through the descriptor). */
    static CYTHON_INLINE void plait_op_set(PyObject *obj, Py_ssize_t offset, PyObject *value) {
        Py_INCREF(value);
        *(PyObject **)((char *)obj + offset) = value;
    }

    /* True when body[start:end] has the characters of ``text`` (of the same kind). */
    static int plait_op_region_is(PyObject *body, Py_ssize_t start, Py_ssize_t end,
                                  PyObject *text) {
        int kind = PyUnicode_KIND(body);
        if (PyUnicode_GET_LENGTH(text) != end - start || PyUnicode_KIND(text) != kind)
            return 0;
        return memcmp((char *)PyUnicode_DATA(body) + start * kind, PyUnicode_DATA(text),
                      (size_t)(end - start) * kind) == 0;
    }

    /* The offset of a writable object slot, -1 if ``descr`` is not one. */
    static Py_ssize_t plait_op_slot_offset(PyObject *descr) {
        PyMemberDef *member;
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)) return -1;
        return member->offset;
    }
    """
    object plait_op_alloc(object type)
    void plait_op_set(object obj, Py_ssize_t offset, object value)
    Py_ssize_t plait_op_slot_offset(object descr)
    bint plait_op_region_is(object body, Py_ssize_t start, Py_ssize_t end, object text)

from plait.planner.op_ast import (Argument, Directive, Document, Field, FragmentDefinition,
                                  FragmentSpread, InlineFragment, ObjectField,
                                  OperationDefinition, SourceText, TypeNode, Value,
                                  VariableDefinition)

# Token kinds. Punctuators are named by their text in _KIND_TEXT.
cdef enum:
    K_EOF = 0
    K_NAME = 1
    K_INT = 2
    K_FLOAT = 3
    K_STRING = 4
    K_SPREAD = 5
    K_BANG = 6
    K_DOLLAR = 7
    K_AMP = 8
    K_LPAREN = 9
    K_RPAREN = 10
    K_COLON = 11
    K_EQUALS = 12
    K_AT = 13
    K_LBRACKET = 14
    K_RBRACKET = 15
    K_LBRACE = 16
    K_RBRACE = 17
    K_PIPE = 18

cdef tuple _KIND_TEXT = ("<EOF>", "Name", "Int", "Float", "String", "...", "!", "$", "&", "(",
                         ")", ":", "=", "@", "[", "]", "{", "}", "|")

cdef frozenset _TYPE_SYSTEM_KEYWORDS = frozenset({
    "schema", "scalar", "type", "interface", "union", "enum", "input", "directive", "extend"})
cdef frozenset _DEFINITION_KEYWORDS = _TYPE_SYSTEM_KEYWORDS | frozenset({
    "query", "mutation", "subscription", "fragment"})

# Called through objects so that Cython does not substitute its own conversions.
cdef object _py_int = int
cdef object _py_float = float
cdef object _json_loads = json.loads

cdef object _Document = Document
cdef object _SourceText = SourceText

# -- node construction ---------------------------------------------------------------------
# The nodes are slotted dataclasses whose generated __init__ only stores its arguments. When
# the classes look exactly like that (checked once, below), a node is built by allocating it
# and filling its slots directly, several times faster than calling the class; otherwise
# (or after _set_fast_construction(False)) the class is called.
cdef enum:
    N_VALUE = 0
    N_OBJECT_FIELD = 1
    N_ARGUMENT = 2
    N_DIRECTIVE = 3
    N_TYPE_NODE = 4
    N_FIELD = 5
    N_FRAGMENT_SPREAD = 6
    N_INLINE_FRAGMENT = 7
    N_VARIABLE_DEFINITION = 8
    N_OPERATION_DEFINITION = 9
    N_FRAGMENT_DEFINITION = 10
    N_COUNT = 11

# (class, field names in constructor order), indexed by N_*.
cdef tuple _NODES = (
    (Value, ("kind", "value", "start")),
    (ObjectField, ("name", "value", "start")),
    (Argument, ("name", "value", "start")),
    (Directive, ("name", "arguments", "start")),
    (TypeNode, ("kind", "name", "of", "start")),
    (Field, ("alias", "name", "arguments", "directives", "selections", "start", "end",
             "signature")),
    (FragmentSpread, ("name", "directives", "start")),
    (InlineFragment, ("type_condition", "directives", "selections", "start", "type_start")),
    (VariableDefinition, ("name", "type", "default", "directives", "start")),
    (OperationDefinition, ("kind", "name", "variables", "directives", "selections", "start")),
    (FragmentDefinition, ("name", "type_condition", "directives", "selections", "start",
                          "type_start")),
)

cdef Py_ssize_t _OFFSETS[11][8]
cdef bint _layouts_ok = False
cdef bint _fast = False


cdef bint _find_layouts() except -1:
    """Fill _OFFSETS; False if any node class is not a plain slotted dataclass as expected."""
    cdef Py_ssize_t n, k, offset
    for n in range(N_COUNT):
        cls, names = _NODES[n]
        if type(cls) is not type or cls.__new__ is not object.__new__ or \
                not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__") or \
                "__dict__" in dir(cls) or \
                tuple([f.name for f in dataclasses.fields(cls)]) != names or \
                any(f.name not in cls.__slots__ for f in dataclasses.fields(cls)) or \
                len(cls.__slots__) != len(names) or cls.__dataclass_params__.frozen or \
                not cls.__dataclass_params__.init or len(cls.__mro__) != 2:
            return False
        for k in range(len(names)):
            offset = plait_op_slot_offset(cls.__dict__.get(names[k]))
            if offset < 0:
                return False
            _OFFSETS[n][k] = offset
        # The constructor must do nothing but store its arguments: build one node both ways.
        arguments = tuple([object() for _ in names])
        try:
            called = cls(*arguments)
        except Exception:
            return False
        built = plait_op_alloc(cls)
        for k in range(len(names)):
            plait_op_set(built, _OFFSETS[n][k], arguments[k])
        if type(called) is not cls or any(
                getattr(called, names[k]) is not arguments[k] or
                getattr(built, names[k]) is not arguments[k] for k in range(len(names))):
            return False
    return True


_layouts_ok = _find_layouts()
_fast = _layouts_ok


def fast_construction():
    """True when nodes are built by filling their slots (False: by calling the classes)."""
    return _fast


def _set_fast_construction(bint enabled):
    """For tests: build nodes by calling the classes (False) or directly when possible."""
    global _fast
    _fast = enabled and _layouts_ok
    return _fast


cdef inline object _node3(Py_ssize_t n, object a, object b, object c):
    cdef object node
    if not _fast:
        return _NODES[n][0](a, b, c)
    node = plait_op_alloc(_NODES[n][0])
    plait_op_set(node, _OFFSETS[n][0], a)
    plait_op_set(node, _OFFSETS[n][1], b)
    plait_op_set(node, _OFFSETS[n][2], c)
    return node


cdef inline object _node4(Py_ssize_t n, object a, object b, object c, object d):
    cdef object node
    if not _fast:
        return _NODES[n][0](a, b, c, d)
    node = plait_op_alloc(_NODES[n][0])
    plait_op_set(node, _OFFSETS[n][0], a)
    plait_op_set(node, _OFFSETS[n][1], b)
    plait_op_set(node, _OFFSETS[n][2], c)
    plait_op_set(node, _OFFSETS[n][3], d)
    return node


cdef inline object _node5(Py_ssize_t n, object a, object b, object c, object d, object e):
    cdef object node
    if not _fast:
        return _NODES[n][0](a, b, c, d, e)
    node = plait_op_alloc(_NODES[n][0])
    plait_op_set(node, _OFFSETS[n][0], a)
    plait_op_set(node, _OFFSETS[n][1], b)
    plait_op_set(node, _OFFSETS[n][2], c)
    plait_op_set(node, _OFFSETS[n][3], d)
    plait_op_set(node, _OFFSETS[n][4], e)
    return node


cdef inline object _node8(Py_ssize_t n, object a, object b, object c, object d, object e,
                          object f, object g, object h):
    cdef object node
    if not _fast:
        return _NODES[n][0](a, b, c, d, e, f, g, h)
    node = plait_op_alloc(_NODES[n][0])
    plait_op_set(node, _OFFSETS[n][0], a)
    plait_op_set(node, _OFFSETS[n][1], b)
    plait_op_set(node, _OFFSETS[n][2], c)
    plait_op_set(node, _OFFSETS[n][3], d)
    plait_op_set(node, _OFFSETS[n][4], e)
    plait_op_set(node, _OFFSETS[n][5], f)
    plait_op_set(node, _OFFSETS[n][6], g)
    plait_op_set(node, _OFFSETS[n][7], h)
    return node


cdef inline object _node6(Py_ssize_t n, object a, object b, object c, object d, object e,
                          object f):
    cdef object node
    if not _fast:
        return _NODES[n][0](a, b, c, d, e, f)
    node = plait_op_alloc(_NODES[n][0])
    plait_op_set(node, _OFFSETS[n][0], a)
    plait_op_set(node, _OFFSETS[n][1], b)
    plait_op_set(node, _OFFSETS[n][2], c)
    plait_op_set(node, _OFFSETS[n][3], d)
    plait_op_set(node, _OFFSETS[n][4], e)
    plait_op_set(node, _OFFSETS[n][5], f)
    return node


cdef inline bint _is_name_start(Py_UCS4 c) noexcept:
    return (c >= u'a' and c <= u'z') or (c >= u'A' and c <= u'Z') or c == u'_'


cdef inline bint _is_name_char(Py_UCS4 c) noexcept:
    return (c >= u'a' and c <= u'z') or (c >= u'A' and c <= u'Z') or c == u'_' or \
        (c >= u'0' and c <= u'9')


cdef inline bint _is_digit(Py_UCS4 c) noexcept:
    return c >= u'0' and c <= u'9'


cdef inline bint _is_hex(Py_UCS4 c) noexcept:
    return (c >= u'0' and c <= u'9') or (c >= u'a' and c <= u'f') or (c >= u'A' and c <= u'F')


cdef str _block_string(str raw):
    """Spec 2.9.4 BlockStringValue: common indentation and blank edge lines removed."""
    cdef list lines = raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cdef object indent = None
    cdef str line, stripped
    cdef Py_ssize_t width
    for line in lines[1:]:
        stripped = line.lstrip(" \t")
        if stripped:
            width = len(line) - len(stripped)
            indent = width if indent is None else min(indent, width)
    if indent:
        lines = lines[:1] + [line[indent:] for line in lines[1:]]
    while lines and not (<str>lines[0]).strip(" \t"):
        lines.pop(0)
    while lines and not (<str>lines[len(lines) - 1]).strip(" \t"):
        lines.pop()
    return "\n".join(lines)


cdef class _Parser:
    cdef str body
    cdef Py_ssize_t length
    # Token arrays (the last token is K_EOF at offset ``length``). ``aux`` is the end offset
    # of a Name token and the index into ``literals`` of an Int, Float or String token.
    cdef unsigned char *kinds
    cdef Py_ssize_t *starts
    cdef Py_ssize_t *aux
    cdef Py_ssize_t n
    cdef Py_ssize_t cap
    cdef list literals
    cdef Py_ssize_t i
    cdef Py_ssize_t depth
    cdef Py_ssize_t max_depth
    cdef object max_depth_text
    cdef object syntax_error
    cdef dict texts  # field signature texts, interned
    cdef list recent  # the last of those texts per length (mod 64)

    def __cinit__(self):
        self.kinds = NULL
        self.starts = NULL
        self.aux = NULL
        self.n = 0
        self.cap = 0

    def __dealloc__(self):
        PyMem_Free(self.kinds)
        PyMem_Free(self.starts)
        PyMem_Free(self.aux)

    # -- lexer ---------------------------------------------------------------------------
    cdef int grow(self) except -1:
        cdef Py_ssize_t cap = self.cap * 2 if self.cap else 256
        cdef void *kinds = PyMem_Realloc(self.kinds, cap * sizeof(unsigned char))
        if kinds == NULL:
            raise MemoryError()
        self.kinds = <unsigned char *>kinds
        cdef void *starts = PyMem_Realloc(self.starts, cap * sizeof(Py_ssize_t))
        if starts == NULL:
            raise MemoryError()
        self.starts = <Py_ssize_t *>starts
        cdef void *aux = PyMem_Realloc(self.aux, cap * sizeof(Py_ssize_t))
        if aux == NULL:
            raise MemoryError()
        self.aux = <Py_ssize_t *>aux
        self.cap = cap
        return 0

    cdef inline int push(self, unsigned char kind, Py_ssize_t start, Py_ssize_t aux) except -1:
        if self.n == self.cap:
            self.grow()
        self.kinds[self.n] = kind
        self.starts[self.n] = start
        self.aux[self.n] = aux
        self.n += 1
        return 0

    cdef inline int push_literal(self, unsigned char kind, Py_ssize_t start,
                                 object value) except -1:
        self.literals.append(value)
        return self.push(kind, start, len(self.literals) - 1)

    cdef object unexpected(self, Py_ssize_t pos):
        cdef str char = self.body[pos:pos + 1]
        if char == '"':
            return self.syntax_error("Syntax Error: Unterminated string.", pos)
        return self.syntax_error(f"Syntax Error: Unexpected character {char!r}.", pos)

    cdef int lex(self, Py_ssize_t max_tokens, object max_tokens_text) except -1:
        cdef str body = self.body
        cdef Py_ssize_t end = self.length
        cdef Py_ssize_t pos = 0, start, j, k, last_escape
        cdef unsigned int ukind = PyUnicode_KIND(body)
        cdef void *data = PyUnicode_DATA(body)
        cdef Py_UCS4 c, d
        cdef bint is_float, escaped
        cdef unsigned char kind
        cdef str text
        while pos < end:
            c = PyUnicode_READ(ukind, data, pos)
            # Ignored tokens: whitespace, line terminators, commas, BOM, comments.
            if c == u' ' or c == u'\t' or c == u'\n' or c == u'\r' or c == u',' or \
                    c == 0xFEFF:
                pos += 1
                continue
            if c == u'#':
                pos += 1
                while pos < end:
                    c = PyUnicode_READ(ukind, data, pos)
                    if c == u'\n' or c == u'\r':
                        break
                    pos += 1
                continue
            start = pos
            if _is_name_start(c):
                pos += 1
                while pos < end and _is_name_char(PyUnicode_READ(ukind, data, pos)):
                    pos += 1
                self.push(K_NAME, start, pos)
            elif c == u'{':
                self.push(K_LBRACE, start, 0)
                pos += 1
            elif c == u'}':
                self.push(K_RBRACE, start, 0)
                pos += 1
            elif c == u':':
                self.push(K_COLON, start, 0)
                pos += 1
            elif c == u'(':
                self.push(K_LPAREN, start, 0)
                pos += 1
            elif c == u')':
                self.push(K_RPAREN, start, 0)
                pos += 1
            elif c == u'$':
                self.push(K_DOLLAR, start, 0)
                pos += 1
            elif c == u'@':
                self.push(K_AT, start, 0)
                pos += 1
            elif c == u'[':
                self.push(K_LBRACKET, start, 0)
                pos += 1
            elif c == u']':
                self.push(K_RBRACKET, start, 0)
                pos += 1
            elif c == u'!':
                self.push(K_BANG, start, 0)
                pos += 1
            elif c == u'=':
                self.push(K_EQUALS, start, 0)
                pos += 1
            elif c == u'&':
                self.push(K_AMP, start, 0)
                pos += 1
            elif c == u'|':
                self.push(K_PIPE, start, 0)
                pos += 1
            elif c == u'.':
                if pos + 2 < end and PyUnicode_READ(ukind, data, pos + 1) == u'.' and \
                        PyUnicode_READ(ukind, data, pos + 2) == u'.':
                    self.push(K_SPREAD, start, 0)
                    pos += 3
                else:
                    raise self.unexpected(pos)
            elif c == u'-' or _is_digit(c):
                # -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, each optional part taken
                # only when complete (as the regular expression backtracks).
                j = pos
                d = c
                if c == u'-':
                    j += 1
                    if j >= end:
                        raise self.unexpected(pos)
                    d = PyUnicode_READ(ukind, data, j)
                if d == u'0':
                    j += 1
                elif _is_digit(d):
                    j += 1
                    while j < end and _is_digit(PyUnicode_READ(ukind, data, j)):
                        j += 1
                else:
                    raise self.unexpected(pos)
                is_float = False
                if j + 1 < end and PyUnicode_READ(ukind, data, j) == u'.' and \
                        _is_digit(PyUnicode_READ(ukind, data, j + 1)):
                    j += 2
                    while j < end and _is_digit(PyUnicode_READ(ukind, data, j)):
                        j += 1
                    is_float = True
                if j < end:
                    d = PyUnicode_READ(ukind, data, j)
                    if d == u'e' or d == u'E':
                        k = j + 1
                        if k < end:
                            d = PyUnicode_READ(ukind, data, k)
                            if d == u'+' or d == u'-':
                                k += 1
                        if k < end and _is_digit(PyUnicode_READ(ukind, data, k)):
                            k += 1
                            while k < end and _is_digit(PyUnicode_READ(ukind, data, k)):
                                k += 1
                            j = k
                            is_float = True
                if j < end:
                    d = PyUnicode_READ(ukind, data, j)
                    if _is_name_start(d) or d == u'.':
                        raise self.syntax_error(
                            f"Syntax Error: Invalid number, unexpected {body[j:j + 1]!r}.", j)
                text = body[pos:j]
                if is_float:
                    self.push_literal(K_FLOAT, start, _py_float(text))
                else:
                    self.push_literal(K_INT, start, _py_int(text))
                pos = j
            elif c == u'"':
                kind = 0
                if pos + 2 < end and PyUnicode_READ(ukind, data, pos + 1) == u'"' and \
                        PyUnicode_READ(ukind, data, pos + 2) == u'"':
                    # Block string: """(?:\\"""|[^"]|"(?!""))*""". The loop stops at the
                    # first """ not taken as \"""; at the end of the document the
                    # expression backtracks to the last \""", closing right after its \.
                    j = pos + 3
                    last_escape = -1
                    while j < end:
                        d = PyUnicode_READ(ukind, data, j)
                        if d == u'\\':
                            if j + 3 < end and PyUnicode_READ(ukind, data, j + 1) == u'"' and \
                                    PyUnicode_READ(ukind, data, j + 2) == u'"' and \
                                    PyUnicode_READ(ukind, data, j + 3) == u'"':
                                last_escape = j
                                j += 4
                            else:
                                j += 1
                        elif d == u'"':
                            if j + 2 < end and PyUnicode_READ(ukind, data, j + 1) == u'"' and \
                                    PyUnicode_READ(ukind, data, j + 2) == u'"':
                                kind = K_STRING
                                break
                            j += 1
                        else:
                            j += 1
                    if kind == 0 and last_escape >= 0:
                        j = last_escape + 1
                        kind = K_STRING
                    if kind:
                        self.push_literal(K_STRING, start, _block_string(
                            body[pos + 3:j].replace('\\"""', '"""')))
                        pos = j + 3
                if kind == 0:
                    # "(?:[^"\\\n\r]|\\(?:["\\/bfnrt]|u[0-9A-Fa-f]{4}))*"
                    j = pos + 1
                    escaped = False
                    while True:
                        if j >= end:
                            raise self.unexpected(pos)
                        d = PyUnicode_READ(ukind, data, j)
                        if d == u'"':
                            break
                        if d == u'\n' or d == u'\r':
                            raise self.unexpected(pos)
                        if d == u'\\':
                            escaped = True
                            if j + 1 >= end:
                                raise self.unexpected(pos)
                            d = PyUnicode_READ(ukind, data, j + 1)
                            if d == u'"' or d == u'\\' or d == u'/' or d == u'b' or \
                                    d == u'f' or d == u'n' or d == u'r' or d == u't':
                                j += 2
                            elif d == u'u' and j + 5 < end and \
                                    _is_hex(PyUnicode_READ(ukind, data, j + 2)) and \
                                    _is_hex(PyUnicode_READ(ukind, data, j + 3)) and \
                                    _is_hex(PyUnicode_READ(ukind, data, j + 4)) and \
                                    _is_hex(PyUnicode_READ(ukind, data, j + 5)):
                                j += 6
                            else:
                                raise self.unexpected(pos)
                        else:
                            j += 1
                    if escaped:
                        try:
                            decoded = _json_loads(body[pos:j + 1])
                        except ValueError:
                            raise GraphQLSyntaxError(
                                "Syntax Error: Invalid character within String.", pos)
                        self.push_literal(K_STRING, start, decoded)
                    else:
                        self.push_literal(K_STRING, start, body[pos + 1:j])
                    pos = j + 1
            else:
                raise self.unexpected(pos)
            if self.n > max_tokens:
                raise self.syntax_error(
                    f"Syntax Error: Document contains more than {max_tokens_text} tokens.",
                    start)
        self.push(K_EOF, end, 0)
        return 0

    # -- token helpers -------------------------------------------------------------------
    cdef inline str name_at(self, Py_ssize_t i):
        return self.body[self.starts[i]:self.aux[i]]

    cdef object value_at(self, Py_ssize_t i):
        cdef unsigned char kind = self.kinds[i]
        if kind == K_EOF:
            return None
        if kind == K_NAME:
            return self.name_at(i)
        if kind == K_INT or kind == K_FLOAT or kind == K_STRING:
            return self.literals[self.aux[i]]
        return _KIND_TEXT[kind]

    cdef str describe(self, Py_ssize_t i):
        cdef unsigned char kind = self.kinds[i]
        if kind == K_EOF:
            return "<EOF>"
        if kind == K_NAME:
            return f'Name "{self.name_at(i)}"'
        if kind == K_INT or kind == K_FLOAT:
            return f'{_KIND_TEXT[kind]} "{self.literals[self.aux[i]]}"'
        if kind == K_STRING:
            return "String"
        return f'"{_KIND_TEXT[kind]}"'

    cdef object fail(self, str expected):
        return self.syntax_error(
            f"Syntax Error: Expected {expected}, found {self.describe(self.i)}.",
            self.starts[self.i])

    cdef Py_ssize_t expect(self, unsigned char kind) except -1:
        cdef Py_ssize_t i = self.i
        if self.kinds[i] != kind:
            raise self.fail("Name" if kind == K_NAME else f'"{_KIND_TEXT[kind]}"')
        self.i = i + 1
        return self.starts[i]

    cdef str name(self):
        cdef Py_ssize_t i = self.i
        if self.kinds[i] != K_NAME:
            raise self.fail("Name")
        self.i = i + 1
        return self.name_at(i)

    cdef inline bint name_is(self, Py_ssize_t i, str word):
        """True when token ``i`` is the Name ``word``."""
        if self.kinds[i] != K_NAME:
            return False
        cdef Py_ssize_t start = self.starts[i], length = self.aux[i] - start, k
        if length != len(word):
            return False
        for k in range(length):
            if self.body[start + k] != word[k]:
                return False
        return True

    cdef int enter(self) except -1:
        self.depth += 1
        if self.depth > self.max_depth:
            raise self.syntax_error(
                "Syntax Error: Document is nested too deeply (more than "
                f"{self.max_depth_text} levels).", self.starts[self.i])
        return 0

    # -- document ------------------------------------------------------------------------
    cdef object document(self, object source):
        cdef object doc = _Document(source)
        cdef list operations = doc.operations, fragments = doc.fragments
        cdef list non_executable = doc.non_executable
        cdef unsigned char kind
        cdef Py_ssize_t start
        cdef object selections
        cdef str word
        if self.kinds[self.i] == K_EOF:
            raise self.fail("an operation or fragment")
        while self.kinds[self.i] != K_EOF:
            kind = self.kinds[self.i]
            if kind == K_LBRACE:
                start = self.starts[self.i]
                selections = self.selection_set()
                operations.append(_node6(N_OPERATION_DEFINITION, "query", None, [], [], selections,
                                         start))
                continue
            if kind == K_STRING:
                start = self.starts[self.i]
                self.skip_definition()
                non_executable.append(("The described definition is not executable.", start))
                continue
            if kind == K_NAME:
                word = self.name_at(self.i)
                if word == "query" or word == "mutation" or word == "subscription":
                    operations.append(self.operation())
                    continue
                if word == "fragment":
                    fragments.append(self.fragment())
                    continue
                if word in _TYPE_SYSTEM_KEYWORDS:
                    start = self.starts[self.i]
                    self.skip_definition()
                    non_executable.append(
                        (f"The {word} definition is not executable.", start))
                    continue
            raise self.fail("an operation or fragment")
        return doc

    cdef int skip_definition(self) except -1:
        """Step over a type-system definition (reported by validation, spec 5.1.1)."""
        cdef Py_ssize_t depth = 0
        cdef unsigned char kind
        self.i += 1
        while self.kinds[self.i] != K_EOF:
            kind = self.kinds[self.i]
            if kind == K_LBRACE or kind == K_LPAREN or kind == K_LBRACKET:
                depth += 1
            elif kind == K_RBRACE or kind == K_RPAREN or kind == K_RBRACKET:
                depth -= 1
                if depth == 0 and kind == K_RBRACE:
                    self.i += 1
                    return 0
            elif depth == 0 and kind == K_NAME and \
                    self.name_at(self.i) in _DEFINITION_KEYWORDS:
                return 0
            self.i += 1
        return 0

    cdef object operation(self):
        cdef Py_ssize_t start = self.starts[self.i]
        cdef str kind = self.name()
        cdef object name = self.name() if self.kinds[self.i] == K_NAME else None
        cdef list variables = self.variable_definitions() \
            if self.kinds[self.i] == K_LPAREN else []
        cdef list directives = self.directives(False)
        return _node6(N_OPERATION_DEFINITION, kind, name, variables, directives,
                      self.selection_set(), start)

    cdef object fragment(self):
        cdef Py_ssize_t start = self.starts[self.i]
        self.i += 1
        cdef Py_ssize_t name_start = self.starts[self.i]
        cdef str name = self.name()
        if name == "on":
            raise self.syntax_error('Syntax Error: Unexpected Name "on".', name_start)
        if not self.name_is(self.i, "on"):
            raise self.fail('"on"')
        self.i += 1
        cdef Py_ssize_t type_start = self.starts[self.i]
        cdef str condition = self.name()
        cdef list directives = self.directives(False)
        return _node6(N_FRAGMENT_DEFINITION, name, condition, directives, self.selection_set(),
                      start, type_start)

    cdef list variable_definitions(self):
        self.expect(K_LPAREN)
        cdef list found = []
        cdef Py_ssize_t start
        cdef str name
        cdef object type_node, default
        while self.kinds[self.i] != K_RPAREN:
            start = self.expect(K_DOLLAR)
            name = self.name()
            self.expect(K_COLON)
            type_node = self.type_ref()
            default = None
            if self.kinds[self.i] == K_EQUALS:
                self.i += 1
                default = self.value(True)
            found.append(_node5(N_VARIABLE_DEFINITION, name, type_node, default,
                                self.directives(True), start))
        if not found:
            raise self.fail("Variable")
        self.i += 1
        return found

    cdef object type_ref(self):
        self.enter()
        cdef Py_ssize_t start = self.starts[self.i]
        cdef object node, inner
        if self.kinds[self.i] == K_LBRACKET:
            self.i += 1
            inner = self.type_ref()
            self.expect(K_RBRACKET)
            node = _node4(N_TYPE_NODE, "list", None, inner, start)
        else:
            node = _node4(N_TYPE_NODE, "named", self.name(), None, start)
        if self.kinds[self.i] == K_BANG:
            self.i += 1
            node = _node4(N_TYPE_NODE, "non_null", None, node, start)
        self.depth -= 1
        return node

    # -- selections ----------------------------------------------------------------------
    cdef list selection_set(self):
        self.enter()
        self.expect(K_LBRACE)
        cdef list selections = []
        cdef unsigned char *kinds = self.kinds
        while kinds[self.i] != K_RBRACE:
            if kinds[self.i] == K_SPREAD:
                selections.append(self.fragment_selection())
            else:
                selections.append(self.field())
        self.i += 1
        if not selections:
            raise self.syntax_error('Syntax Error: Expected Name, found "}".',
                                    self.starts[self.i - 1])
        self.depth -= 1
        return selections

    cdef object field(self):
        cdef Py_ssize_t start = self.starts[self.i]
        cdef str name = self.name()
        cdef object alias = None
        cdef unsigned char *kinds = self.kinds
        cdef Py_ssize_t name_start = start, last, end
        if kinds[self.i] == K_COLON:
            self.i += 1
            name_start = self.starts[self.i]
            alias = name
            name = self.name()
        cdef list arguments = self.arguments(False) if kinds[self.i] == K_LPAREN else []
        cdef list directives = self.directives(False) if kinds[self.i] == K_AT else []
        cdef object selections = self.selection_set() if kinds[self.i] == K_LBRACE else None
        # The field's last token is a Name or a closing ")" or "}".
        last = self.i - 1
        end = self.aux[last] if kinds[last] == K_NAME else self.starts[last] + 1
        return _node8(N_FIELD, alias, name, arguments, directives, selections, start,
                      self.starts[self.i], self.field_text(name_start, end))

    cdef str field_text(self, Py_ssize_t start, Py_ssize_t end):
        """``body[start:end]``, interned: the last text of each length (mod 64) is compared
        first, so a repeated field (hostile documents) costs no slice and no hashing."""
        cdef Py_ssize_t slot = (end - start) & 63
        cdef object recent = self.recent[slot]
        if recent is not None and plait_op_region_is(self.body, start, end, recent):
            return <str>recent
        cdef str text = self.body[start:end]
        text = self.texts.setdefault(text, text)
        self.recent[slot] = text
        return text

    cdef object fragment_selection(self):
        cdef Py_ssize_t start = self.starts[self.i]
        self.i += 1
        if self.kinds[self.i] == K_NAME and not self.name_is(self.i, "on"):
            name = self.name()
            return _node3(N_FRAGMENT_SPREAD, name, self.directives(False), start)
        cdef object condition = None
        cdef Py_ssize_t type_start = 0
        if self.kinds[self.i] == K_NAME:
            self.i += 1
            type_start = self.starts[self.i]
            condition = self.name()
        cdef list directives = self.directives(False)
        return _node5(N_INLINE_FRAGMENT, condition, directives, self.selection_set(), start,
                      type_start)

    cdef list arguments(self, bint const):
        self.expect(K_LPAREN)
        cdef list found = []
        cdef Py_ssize_t start
        cdef str name
        while self.kinds[self.i] != K_RPAREN:
            start = self.starts[self.i]
            name = self.name()
            self.expect(K_COLON)
            found.append(_node3(N_ARGUMENT, name, self.value(const), start))
        if not found:
            raise self.fail("Name")
        self.i += 1
        return found

    cdef list directives(self, bint const):
        cdef list found = []
        cdef Py_ssize_t start
        cdef str name
        cdef list arguments
        while self.kinds[self.i] == K_AT:
            start = self.starts[self.i]
            self.i += 1
            name = self.name()
            arguments = self.arguments(const) if self.kinds[self.i] == K_LPAREN else []
            found.append(_node3(N_DIRECTIVE, name, arguments, start))
        return found

    # -- values --------------------------------------------------------------------------
    cdef object value(self, bint const):
        cdef Py_ssize_t i = self.i
        cdef unsigned char kind = self.kinds[i]
        cdef Py_ssize_t start = self.starts[i], field_start
        cdef str word
        cdef list items
        if kind == K_DOLLAR:
            if const:
                raise self.syntax_error(
                    f'Syntax Error: Unexpected variable "${self.value_at(i + 1)}" in constant '
                    "value.", start)
            self.i += 1
            return _node3(N_VALUE, "variable", self.name(), start)
        if kind == K_INT:
            self.i += 1
            return _node3(N_VALUE, "int", self.literals[self.aux[i]], start)
        if kind == K_FLOAT:
            self.i += 1
            return _node3(N_VALUE, "float", self.literals[self.aux[i]], start)
        if kind == K_STRING:
            self.i += 1
            return _node3(N_VALUE, "string", self.literals[self.aux[i]], start)
        if kind == K_NAME:
            self.i += 1
            word = self.name_at(i)
            if word == "true":
                return _node3(N_VALUE, "boolean", True, start)
            if word == "false":
                return _node3(N_VALUE, "boolean", False, start)
            if word == "null":
                return _node3(N_VALUE, "null", None, start)
            return _node3(N_VALUE, "enum", word, start)
        if kind == K_LBRACKET:
            self.enter()
            self.i += 1
            items = []
            while self.kinds[self.i] != K_RBRACKET:
                if self.kinds[self.i] == K_EOF:
                    raise self.fail('"]"')
                items.append(self.value(const))
            self.i += 1
            self.depth -= 1
            return _node3(N_VALUE, "list", items, start)
        if kind == K_LBRACE:
            self.enter()
            self.i += 1
            items = []
            while self.kinds[self.i] != K_RBRACE:
                field_start = self.starts[self.i]
                word = self.name()
                self.expect(K_COLON)
                items.append(_node3(N_OBJECT_FIELD, word, self.value(const), field_start))
            self.i += 1
            self.depth -= 1
            return _node3(N_VALUE, "object", items, start)
        raise self.fail("a value")


def parse_operation_document(text):
    """Parse ``text`` as an executable document; raise :class:`GraphQLSyntaxError`."""
    reference = _reference
    max_chars = reference.MAX_DOCUMENT_CHARS
    if len(text) > max_chars:
        raise GraphQLSyntaxError(
            f"Syntax Error: Document is too large ({len(text)} characters; the limit is "
            f"{max_chars}).", 0)
    if not isinstance(text, str):
        raise TypeError(
            f"parse_operation_document() argument must be str, not {type(text).__name__}")
    source = _SourceText(text)
    cdef _Parser parser = _Parser.__new__(_Parser)
    parser.body = <str>text
    parser.length = len(<str>text)
    parser.literals = []
    parser.texts = {}
    parser.recent = [None] * 64
    parser.i = 0
    parser.depth = 0
    parser.max_depth_text = reference.MAX_DEPTH
    parser.max_depth = parser.max_depth_text
    parser.syntax_error = GraphQLSyntaxError
    max_tokens = reference.MAX_TOKENS
    # The AST is a tree: parsing creates no reference cycles, so the cyclic collector has
    # nothing to find, but the allocations would trigger collections that traverse the whole
    # growing heap again and again (most of the time for a large document). It is paused for
    # the parse and resumed (if it was enabled) before returning or raising.
    cdef int gc_was_enabled = PyGC_Disable()
    try:
        parser.lex(max_tokens, max_tokens)
        return parser.document(source)
    finally:
        if gc_was_enabled:
            PyGC_Enable()


# Imported last: op_parse selects this module at the end of its own import, so either module
# can be imported first. The limits are read from op_parse on every call (one definition).
from plait.planner import op_parse as _reference
from plait.planner.op_parse import GraphQLSyntaxError
