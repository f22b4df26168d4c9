# Byte classes and helpers for reading HTTP/1.1 heads in C (RFC 9110, RFC 9112), shared by
# the server's fast path (bindings/_fastpath.pyx) and the upstream client's response-head
# reader (engine/_http_head.pyx) through `include`.

# RFC 9110 5.6.2 tchar
cdef bint _TCHAR[256]
for _c in range(256):
    _TCHAR[_c] = (48 <= _c <= 57) or (65 <= _c <= 90) or (97 <= _c <= 122) or \
        chr(_c) in "!#$%&'*+-.^_`|~"


cdef inline bint _field_byte(unsigned char c):
    """RFC 9110 5.5 field-vchar / SP / HTAB (obs-text allowed, as httptools does)."""
    return c == 9 or (c >= 32 and c != 127)


cdef inline unsigned char _lower(unsigned char c):
    return c + 32 if 65 <= c <= 90 else c


cdef bint _equal_lower(const unsigned char *p, Py_ssize_t n, const char *word,
                       Py_ssize_t m):
    """``p[:n]`` equals the lower-case ``word`` ignoring ASCII case."""
    cdef Py_ssize_t i
    if n != m:
        return False
    for i in range(n):
        if _lower(p[i]) != <unsigned char>word[i]:
            return False
    return True


cdef Py_ssize_t _digits(const unsigned char *p, Py_ssize_t n):
    """A Content-Length value (1 to 12 digits), or -1."""
    cdef Py_ssize_t i, value = 0
    if n < 1 or n > 12:
        return -1
    for i in range(n):
        if not 48 <= p[i] <= 57:
            return -1
        value = value * 10 + (p[i] - 48)
    return value
