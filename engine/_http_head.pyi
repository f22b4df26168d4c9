"""Types of the compiled upstream response-head reader (``engine/_http_head.pyx``)."""

def read_head(data: bytes) -> tuple[int, list[tuple[str, str]], int, bool, int] | None:
    """(status, headers, content_length, keep_alive, body_start) of a complete, simple
    HTTP/1.1 response head at the start of ``data``; None: parse it with httptools."""
