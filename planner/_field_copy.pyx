# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled twin of :func:`plait.planner.field_copy.aliased_shape`.

A :class:`~plait.planner.program.FieldShape` is a slotted dataclass: when its layout is
the plain one (checked once, below: object header then one object pointer per field, in
any order), the copy is allocated and its slots are copied in C, and only the response
key, its JSON bytes, the offset and the node are replaced. Otherwise the reference runs.
Response keys are GraphQL Names (ASCII letters, digits, ``_``): their JSON is the key in
quotes; any other key is encoded by the reference.
"""
import dataclasses

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.unicode cimport PyUnicode_DATA
from libc.string cimport memcpy

from plait.planner.program import FieldShape

cdef extern from *:
    """
    #include <structmember.h>

    /* The offset of a writable object slot, -1 if ``descr`` is not one. */
    static Py_ssize_t plait_fc_slot_offset(PyObject *descr) {
        PyMemberDef *member;
        if (Py_TYPE(descr) != &PyMemberDescr_Type) return -1;
        member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX || (member->flags & READONLY)) return -1;
        return member->offset;
    }

    /* A new instance of obj's type with the same slot values (the layout was checked). */
    static PyObject *plait_fc_copy(PyObject *obj) {
        PyTypeObject *type = Py_TYPE(obj);
        PyObject *copy = type->tp_alloc(type, 0);
        PyObject **src, **dst;
        Py_ssize_t n, i;
        if (copy == NULL) return NULL;
        src = (PyObject **)((char *)obj + sizeof(PyObject));
        dst = (PyObject **)((char *)copy + sizeof(PyObject));
        n = (type->tp_basicsize - (Py_ssize_t)sizeof(PyObject)) / (Py_ssize_t)sizeof(PyObject *);
        for (i = 0; i < n; i++) {
            Py_XINCREF(src[i]);
            dst[i] = src[i];
        }
        return copy;
    }

    /* Replace the value of the slot at ``offset``. */
    static void plait_fc_replace(PyObject *obj, Py_ssize_t offset, PyObject *value) {
        PyObject **slot = (PyObject **)((char *)obj + offset);
        PyObject *old = *slot;
        Py_INCREF(value);
        *slot = value;
        Py_XDECREF(old);
    }
    """
    Py_ssize_t plait_fc_slot_offset(object descr)
    object plait_fc_copy(object obj)
    void plait_fc_replace(object obj, Py_ssize_t offset, object value)
    bint PyUnicode_IS_ASCII(object text)
    Py_ssize_t PyUnicode_GET_LENGTH(object text)

cdef Py_ssize_t _KEY = -1, _RESPONSE_KEY = -1, _OFFSET = -1, _NODE = -1
cdef bint _fast = False


cdef bint _check_layout() except -1:
    """Set the slot offsets; False unless FieldShape is a plain slotted dataclass."""
    global _KEY, _RESPONSE_KEY, _OFFSET, _NODE
    cls = FieldShape
    names = tuple([f.name for f in dataclasses.fields(cls)])
    if type(cls) is not type or len(cls.__mro__) != 2 or "__dict__" in dir(cls) or \
            tuple(cls.__slots__) != names or \
            cls.__basicsize__ != object.__basicsize__ + len(names) * sizeof(void *):
        return False
    # Every slot an object pointer after the header (CPython lays them out by name).
    offsets = sorted([plait_fc_slot_offset(cls.__dict__.get(name)) for name in names])
    if offsets != [object.__basicsize__ + k * sizeof(void *) for k in range(len(names))]:
        return False
    _KEY = plait_fc_slot_offset(cls.__dict__["key"])
    _RESPONSE_KEY = plait_fc_slot_offset(cls.__dict__["response_key"])
    _OFFSET = plait_fc_slot_offset(cls.__dict__["offset"])
    _NODE = plait_fc_slot_offset(cls.__dict__["node"])
    return True


_fast = _check_layout()


def fast_copy():
    """True when shapes are copied in C (False: the reference builds them)."""
    return _fast


def aliased_shape(planned, str response_key, node):
    """``planned`` written under ``response_key`` for ``node``."""
    if not _fast or type(planned) is not FieldShape or not PyUnicode_IS_ASCII(response_key):
        return _reference.python_aliased_shape(planned, response_key, node)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(response_key), i
    cdef const char *text = <const char *>PyUnicode_DATA(response_key)
    cdef char c
    for i in range(n):
        c = text[i]
        if not (b'a' <= c <= b'z' or b'A' <= c <= b'Z' or b'0' <= c <= b'9' or c == b'_'):
            return _reference.python_aliased_shape(planned, response_key, node)
    cdef bytes key = PyBytes_FromStringAndSize(NULL, n + 3)
    cdef char *out = PyBytes_AS_STRING(key)
    out[0] = b'"'
    memcpy(out + 1, text, n)
    out[n + 1] = b'"'
    out[n + 2] = b':'
    shape = plait_fc_copy(planned)
    plait_fc_replace(shape, _KEY, key)
    plait_fc_replace(shape, _RESPONSE_KEY, response_key)
    plait_fc_replace(shape, _OFFSET, node.start)
    plait_fc_replace(shape, _NODE, node)
    return shape


from plait.planner import field_copy as _reference
