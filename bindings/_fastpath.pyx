# cython: language_level=3
"""Compiled fast path of the HTTP server (``plait.server``).

Most GraphQL traffic is one shape of request: ``POST {graphql_path} HTTP/1.1`` with a
``Content-Length`` JSON body, on a keep-alive connection with nothing else in flight.
:class:`FastPath` reads such requests straight from the bytes received, in C, and hands
the server their decoded parameters (no parser callbacks, no per-header Python work). It
only ever *accepts* a request it fully understands; anything else (another method, path or
version, ``Transfer-Encoding``, ``Expect``, ``Upgrade``, ``Connection`` options, a header
line that is not plain ``token: value`` (RFC 9112 5), a repeated ``Content-Length``, a
body not yet complete, a body that is not a plain GraphQL request object, CORS origins,
access logging) stops it, and the request is parsed again from its first byte by
httptools, as if the fast path did not exist. So the fast path can make plait faster but
never changes an answer.

Answers of *constant* operations (``program.constant``: no upstream, no variables, no
request-dependent template) are remembered per (request body bytes, ``Accept`` value): the
body determines the query, operationName and variables, ``Accept`` the response mode, so
the same bytes get the same answer; it is written again with the current ``Date``.
Requests whose bytes equal those of one whose shared execution is still running join it
(:class:`Gathering`) without being decoded again, and are all answered from one answer.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.string cimport memchr, memcmp

import msgspec

_decode = msgspec.json.decode

cdef int MAX_FIELDS = 64
cdef Py_ssize_t MAX_CONSTANTS = 1024
cdef Py_ssize_t MAX_KEPT_BODY = 4096
cdef Py_ssize_t MAX_KEPT_ANSWER = 65536
#: ``plait.server._IDLE``: a connection between requests.
cdef int IDLE = 0

include "_http_chars.pxi"

cdef enum:
    F_LENGTH = 1
    F_TYPE = 2
    F_CONNECTION = 4
    F_ORIGIN = 8
    F_ACCEPT = 16
    F_SLOW = 32


cdef int _known(const unsigned char *p, Py_ssize_t n):
    """Which of the fields the fast path looks at a field name is (0: another one)."""
    if _equal_lower(p, n, b"content-length", 14):
        return F_LENGTH
    if _equal_lower(p, n, b"content-type", 12):
        return F_TYPE
    if _equal_lower(p, n, b"connection", 10):
        return F_CONNECTION
    if _equal_lower(p, n, b"origin", 6):
        return F_ORIGIN
    if _equal_lower(p, n, b"accept", 6):
        return F_ACCEPT
    if _equal_lower(p, n, b"transfer-encoding", 17) or _equal_lower(p, n, b"expect", 6) or \
            _equal_lower(p, n, b"upgrade", 7) or _equal_lower(p, n, b"http2-settings", 14) or \
            _equal_lower(p, n, b"te", 2) or _equal_lower(p, n, b"trailer", 7):
        return F_SLOW
    return 0


cdef bint _json_media(const unsigned char *p, Py_ssize_t n):
    """``application/json``, optionally ``; charset=utf-8`` (any case, optional spaces)."""
    cdef Py_ssize_t i = 16
    if n < 16 or not _equal_lower(p, 16, b"application/json", 16):
        return False
    if n == 16:
        return True
    while i < n and p[i] == 32:
        i += 1
    if i >= n or p[i] != 59:  # ';'
        return False
    i += 1
    while i < n and p[i] == 32:
        i += 1
    return _equal_lower(p + i, n - i, b"charset=utf-8", 13)


cdef class FastPath:
    """Reads simple requests for one server; see the module docstring."""

    cdef object server
    cdef bytes request_line
    cdef Py_ssize_t max_body
    cdef Py_ssize_t max_head
    cdef bint cors
    cdef object accept_modes
    cdef public dict constants
    #: Shared executions running, by (request body, ``Accept``): :class:`Gathering`
    cdef public dict gatherings
    cdef object loop
    cdef double keepalive
    #: Requests read here (answered from ``constants`` or handed to the server).
    cdef public Py_ssize_t handled

    def __init__(self, server, bytes graphql_path, Py_ssize_t max_body, Py_ssize_t max_head,
                 bint cors, accept_modes, double keepalive):
        self.server = server
        self.request_line = b"POST " + graphql_path + b" HTTP/1.1\r\n"
        self.max_body = max_body
        self.max_head = max_head
        self.cors = cors
        self.accept_modes = accept_modes
        self.constants = {}
        self.gatherings = {}
        self.loop = None
        self.keepalive = keepalive
        self.handled = 0

    def remember(self, key, bytes head, bytes rest):
        """Keep a constant operation's answer under ``key`` (the request body and its
        ``Accept`` value, as ``fast_request`` was given it): ``head`` goes before the
        ``Date`` line, ``rest`` after it (the other header lines, the blank line, the
        body). A body that parses to the same operation answers the same."""
        if len(key[0]) > MAX_KEPT_BODY or len(rest) > MAX_KEPT_ANSWER:
            return  # kept memory stays bounded: at most MAX_CONSTANTS small entries
        if len(self.constants) >= MAX_CONSTANTS:
            self.constants.clear()
        self.constants[key] = (head, rest)

    def gather(self, key, run, int mode, exchange):
        """The request under ``key`` started shared execution ``run`` (a ``SharedRun``):
        until it ends, requests with the same bytes join it (:class:`Gathering`), owing
        ``exchange`` (a fresh ``plait.server._Exchange``)."""
        if key not in self.gatherings:
            self.gatherings[key] = Gathering(self, key, run, mode, exchange)

    def feed(self, connection, bytes data):
        """Answer (or start) the simple requests at the front of ``data``; return how many
        bytes they took. The caller parses the rest in the general way."""
        cdef Py_ssize_t pos = 0, end
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        while pos < size:
            end = self._one(connection, data, pos, size)
            if end <= pos:
                break
            pos = end
            if connection.pending:  # an answer is owed: later requests queue behind it
                break
        return pos

    cdef Py_ssize_t _one(self, connection, bytes data, Py_ssize_t pos, Py_ssize_t size) \
            except -2:
        cdef const unsigned char *buf = <const unsigned char *>PyBytes_AS_STRING(data)
        cdef const unsigned char *newline
        cdef Py_ssize_t line_len = PyBytes_GET_SIZE(self.request_line)
        cdef Py_ssize_t cursor, line_end, colon, v_start, v_end, k, head_start = pos
        cdef Py_ssize_t n_fields = 0, body_start, body_end, content_length = -1
        cdef Py_ssize_t accept_at = -1, accept_end = -1
        cdef Py_ssize_t names[64]
        cdef Py_ssize_t name_ends[64]
        cdef Py_ssize_t values[64]
        cdef Py_ssize_t value_ends[64]
        cdef int seen = 0, known
        cdef bint json_type = False
        if size - pos < line_len or \
                memcmp(buf + pos, PyBytes_AS_STRING(self.request_line), line_len) != 0:
            return 0
        cursor = pos + line_len
        while True:
            if cursor - head_start > self.max_head:
                return 0
            newline = <const unsigned char *>memchr(buf + cursor, 10, size - cursor)
            if newline == NULL:
                return 0  # the head is not complete yet
            line_end = newline - buf
            if line_end == cursor or buf[line_end - 1] != 13:
                return 0  # a bare LF
            if line_end - 1 == cursor:
                body_start = line_end + 1  # the empty line: the head is complete
                break
            if n_fields == MAX_FIELDS:
                return 0
            # field-line = field-name ":" OWS field-value OWS
            colon = cursor
            while colon < line_end - 1 and _TCHAR[buf[colon]]:
                colon += 1
            if colon == cursor or buf[colon] != 58:  # no name, not a token, or no ':'
                return 0
            v_start = colon + 1
            v_end = line_end - 1
            while v_start < v_end and (buf[v_start] == 32 or buf[v_start] == 9):
                v_start += 1
            while v_end > v_start and (buf[v_end - 1] == 32 or buf[v_end - 1] == 9):
                v_end -= 1
            for k in range(v_start, v_end):
                if not _field_byte(buf[k]):
                    return 0
            known = _known(buf + cursor, colon - cursor)
            if known & F_SLOW:
                return 0
            if known:
                if seen & known:
                    return 0  # a repeated field: the general parser's rules apply
                seen |= known
                if known == F_LENGTH:
                    content_length = _digits(buf + v_start, v_end - v_start)
                    if content_length < 0:
                        return 0
                elif known == F_CONNECTION:
                    if not _equal_lower(buf + v_start, v_end - v_start, b"keep-alive", 10):
                        return 0
                elif known == F_TYPE:
                    json_type = _json_media(buf + v_start, v_end - v_start)
                elif known == F_ORIGIN:
                    if self.cors:
                        return 0
                elif known == F_ACCEPT:
                    accept_at, accept_end = v_start, v_end
            names[n_fields] = cursor
            name_ends[n_fields] = colon
            values[n_fields] = v_start
            value_ends[n_fields] = v_end
            n_fields += 1
            cursor = line_end + 1
        if content_length < 0 or not json_type or content_length > self.max_body:
            return 0
        body_end = body_start + content_length
        if body_end > size or self.server.closing:
            return 0  # not complete yet, or answers say Connection: close now
        body = data[body_start:body_end]
        accept = data[accept_at:accept_end] if accept_at >= 0 else None
        key = (body, accept)
        found = self.constants.get(key)
        if found is not None:  # a constant operation's answer: write it again
            server = self.server
            connection.transport.write((<tuple>found)[0] + server._date + (<tuple>found)[1])
            if self.loop is None:
                self.loop = server.loop
            connection.deadline = self.loop.time() + self.keepalive
            self.handled += 1
            return body_end
        if self.gatherings:
            found = self.gatherings.get(key)
            if found is not None and (<Gathering>found).join(connection):
                self.handled += 1  # the same request is being answered: wait with it
                return body_end
        modes = self.accept_modes.get(None if accept is None else accept.decode("latin-1"))
        if modes is None:
            return 0
        try:
            payload = _decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return 0
        if type(payload) is not dict:
            return 0
        query = (<dict>payload).get("query")
        variables = (<dict>payload).get("variables")
        name = (<dict>payload).get("operationName")
        extensions = (<dict>payload).get("extensions")
        if type(query) is not str or (variables is not None and type(variables) is not dict) \
                or (name is not None and type(name) is not str) or \
                (extensions is not None and type(extensions) is not dict):
            return 0
        headers = {}
        for k in range(n_fields):
            text = data[names[k]:name_ends[k]].decode("latin-1").lower()
            if text in headers:
                return 0  # a repeated field: the general parser's rules apply
            headers[text] = data[values[k]:value_ends[k]].decode("latin-1")
        self.handled += 1
        connection.fast_request((<tuple>modes)[0], query, variables, name, headers, key)
        return body_end


cdef class Gathering:
    """Fast-path requests that wait for a shared execution (``SharedRun``) started by a
    request with the same bytes and ``Accept`` value (so the same operation, variables and
    response mode), instead of each calling ``Engine.start``. Every joined connection owes
    the same ``exchange``; when the execution ends it is answered once, serialized once,
    and the bytes written to each connection with nothing else owed (others take the
    general way, ``_Connection.ready``). Only used when no request header can change an
    answer (``Server.gather``)."""

    cdef FastPath fast
    cdef object key
    cdef object run
    cdef object future
    cdef int mode
    cdef object exchange
    #: The connections waiting, in the order they joined.
    cdef list connections

    def __init__(self, FastPath fast, key, run, int mode, exchange):
        self.fast = fast
        self.key = key
        self.run = run
        self.future = run.future
        self.mode = mode
        self.exchange = exchange
        self.connections = []
        self.future.add_done_callback(self.finish)

    cdef bint join(self, connection) except -1:
        """A request with the same bytes arrived on ``connection`` (nothing else owed):
        wait with the others, unless the execution has already finished (an answer
        computed before the request arrived is not given to it; False)."""
        if self.future.done():
            return False
        connection.pending.append(self.exchange)
        connection.deadline = 0.0  # the server is working; the client waits for us
        self.connections.append(connection)
        return True

    def finish(self, future):
        """The execution ended: answer every joined connection."""
        cdef FastPath fast = self.fast
        server = fast.server
        if fast.gatherings.get(self.key) is self:
            del fast.gatherings[self.key]
        if not self.connections:
            return
        exchange = self.exchange
        server._conclude(exchange, self.mode, False, future, self.run.result)
        whole = None
        if fast.loop is None:
            fast.loop = server.loop
        cdef double deadline = fast.loop.time() + fast.keepalive
        cdef bint closing = server.closing
        for connection in self.connections:
            pending = connection.pending
            transport = connection.transport
            if closing or len(pending) != 1 or pending[0] is not exchange or \
                    transport is None or connection.eof or connection.stopped:
                connection.ready(exchange)  # owes more, or ends: the general way
                continue
            if whole is None:
                whole = server._serialize(exchange, False)
            pending.popleft()
            transport.write(whole)
            # What _Connection._written does when idle again, in its usual case: the
            # keep-alive timeout applies from now (the armed timer re-arms itself).
            if connection.phase == IDLE and not connection.reading_paused and \
                    connection.timer is not None and connection.timer_at <= deadline:
                connection.deadline = deadline
            else:
                connection._written()
