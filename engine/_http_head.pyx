# cython: language_level=3
"""Compiled reader of simple upstream response heads (``plait.engine.upstream``).

Nearly every upstream answer is one shape: ``HTTP/1.1`` with a status, a few header lines
and a ``Content-Length`` body. :func:`read_head` reads such a head straight from the first
bytes received, in C, instead of one httptools callback (a Python call) per header line.
It only *accepts* a head it fully understands; anything else (another version, a 1xx, 204
or 304 status, ``Transfer-Encoding``, ``Content-Encoding``, ``Upgrade``, a ``Connection``
value other than ``keep-alive`` or ``close``, a missing or repeated ``Content-Length``, a
field line that is not plain ``token: value`` (RFC 9112 5), a head not yet complete) gives
None, and the client parses the response with httptools from its first byte, as if this
reader did not exist. Accepted heads give what the httptools callbacks would have given.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr

include "_http_chars.pxi"

#: Longest head read here (a longer one is left to httptools, which bounds it).
cdef Py_ssize_t MAX_HEAD = 16384

cdef enum:
    H_LENGTH = 1
    H_CONNECTION = 2
    H_SLOW = 4


cdef int _kind(const unsigned char *p, Py_ssize_t n):
    """Which of the fields this reader looks at a field name is (0: another one)."""
    if _equal_lower(p, n, b"content-length", 14):
        return H_LENGTH
    if _equal_lower(p, n, b"connection", 10):
        return H_CONNECTION
    if _equal_lower(p, n, b"transfer-encoding", 17) or \
            _equal_lower(p, n, b"content-encoding", 16) or _equal_lower(p, n, b"upgrade", 7):
        return H_SLOW
    return 0


def read_head(bytes data):
    """The response head at the start of ``data`` if it is complete and simple (see the
    module docstring): ``(status, headers, content_length, keep_alive, body_start)``, the
    header fields as ``(lower-case name, value)`` text pairs in order; else None."""
    cdef const unsigned char *buf = <const unsigned char *>PyBytes_AS_STRING(data)
    cdef const unsigned char *newline
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t cursor, line_end, colon, v_start, v_end, k, content_length = -1
    cdef int status, kind, seen = 0
    cdef bint keep_alive = True
    cdef list headers = []
    # status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4)
    if size < 14 or not (buf[0] == 72 and buf[1] == 84 and buf[2] == 84 and buf[3] == 80 and
                         buf[4] == 47 and buf[5] == 49 and buf[6] == 46 and buf[7] == 49 and
                         buf[8] == 32):  # "HTTP/1.1 "
        return None
    for k in range(9, 12):
        if not 48 <= buf[k] <= 57:
            return None
    status = (buf[9] - 48) * 100 + (buf[10] - 48) * 10 + (buf[11] - 48)
    if status < 200 or status > 599 or status == 204 or status == 304:
        return None
    newline = <const unsigned char *>memchr(buf + 12, 10, min(size, MAX_HEAD) - 12)
    if newline == NULL:
        return None
    line_end = newline - buf
    if buf[line_end - 1] != 13:
        return None
    if line_end - 1 > 12:
        if buf[12] != 32:
            return None
        for k in range(13, line_end - 1):
            if not _field_byte(buf[k]):
                return None
    cursor = line_end + 1
    while True:
        if cursor >= MAX_HEAD:
            return None
        newline = <const unsigned char *>memchr(buf + cursor, 10, min(size, MAX_HEAD) - cursor) \
            if cursor < size else NULL
        if newline == NULL:
            return None  # the head is not complete yet (or too long for this reader)
        line_end = newline - buf
        if line_end == cursor or buf[line_end - 1] != 13:
            return None  # a bare LF
        if line_end - 1 == cursor:
            break  # the empty line: the head is complete
        # field-line = field-name ":" OWS field-value OWS; like httptools, the value keeps
        # its trailing whitespace
        colon = cursor
        while colon < line_end - 1 and _TCHAR[buf[colon]]:
            colon += 1
        if colon == cursor or buf[colon] != 58:  # no name, not a token, or no ':'
            return None
        v_start = colon + 1
        v_end = line_end - 1
        while v_start < v_end and (buf[v_start] == 32 or buf[v_start] == 9):
            v_start += 1
        for k in range(v_start, v_end):
            if not _field_byte(buf[k]):
                return None
        kind = _kind(buf + cursor, colon - cursor)
        if kind:
            if kind == H_SLOW or seen & kind:
                return None
            seen |= kind
            if kind == H_LENGTH:
                content_length = _digits(buf + v_start, v_end - v_start)
                if content_length < 0:
                    return None
            elif _equal_lower(buf + v_start, v_end - v_start, b"close", 5):
                keep_alive = False
            elif not _equal_lower(buf + v_start, v_end - v_start, b"keep-alive", 10):
                return None
        headers.append((data[cursor:colon].decode("latin-1").lower(),
                        data[v_start:v_end].decode("latin-1")))
        cursor = line_end + 1
    if content_length < 0:
        return None
    return status, headers, content_length, keep_alive, line_end + 1
