"""Reading a request body under a size limit and a deadline (docs/THREATS.md, "Slow bodies").

Under functions-framework (gunicorn `gthread`) the body is read from the socket on the request
thread: a client that sends headers and then trickles the body holds that thread. So the app checks
the caller, Content-Length and Content-Type before it reads a byte (functions/app.py), and reads the
body here within SOUL_BODY_TIMEOUT_SECONDS of starting (408 past it) and SOUL_MAX_BODY_BYTES in all
(413 past it, chunked bodies included). gunicorn reads a body in a loop of `recv` calls until it has
the size asked for, so a per-read socket timeout cannot bound the total; a timer shuts the socket's
reading side at the deadline instead, which wakes the blocked `recv` with end-of-stream. Servers that
buffer the body before calling the app (waitress under `soul dev`, the Flask test client) have no
socket in the environ and read at memory speed.

A response to a request whose body was not read (a refusal before reading, a deadline, a body too
large) closes the connection (`ClosingResponse`): otherwise the server would drain the rest of the
body on the same thread before the next request on that connection, and functions-framework would
read all of it before answering (its `read_request` hook, skipped for streamed responses only).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Response
from werkzeug.exceptions import ClientDisconnected
from werkzeug.wsgi import get_input_stream

from shared.errors import BadRequest, PayloadTooLarge, RequestTimeout

CHUNK = 16 * 1024
DRAIN_MAX = 1024 * 1024  # bytes of an abandoned body taken off the socket before its reading side is shut


def has_body(environ: dict[str, Any]) -> bool:
    """Whether the request announces a body (a positive Content-Length, or chunked transfer coding)."""
    if "chunked" in str(environ.get("HTTP_TRANSFER_ENCODING", "")).lower():
        return True
    try:
        return int(environ.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:
        return True  # a malformed length: treat as unread, so the connection closes


def read(environ: dict[str, Any], *, limit: int, timeout: float) -> bytes:
    """The whole body: PayloadTooLarge past `limit` bytes, RequestTimeout past `timeout` seconds."""
    stream = get_input_stream(environ, safe_fallback=True, max_content_length=None)
    sock = environ.get("gunicorn.socket")
    deadline = time.monotonic() + timeout
    timer = _shut_reading_at(sock, timeout) if isinstance(sock, socket.socket) else None
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            data = stream.read(min(CHUNK, limit + 1 - size))
            if time.monotonic() >= deadline:
                raise RequestTimeout(f"request body did not arrive within {timeout:g} s")
            if not data:
                return b"".join(chunks)
            chunks.append(data)
            size += len(data)
            if size > limit:
                raise PayloadTooLarge(f"request body over {limit} bytes")
    except (ClientDisconnected, TimeoutError, OSError):
        if time.monotonic() >= deadline:
            raise RequestTimeout(f"request body did not arrive within {timeout:g} s") from None
        raise BadRequest("request body ended before its announced length") from None
    finally:
        if timer is not None:
            timer.cancel()


def _shut_reading_at(sock: socket.socket, seconds: float) -> threading.Timer:
    def shut() -> None:
        with contextlib.suppress(OSError):  # already closed by the client
            sock.shutdown(socket.SHUT_RD)  # wakes a blocked recv with end-of-stream; writing still works

    timer = threading.Timer(seconds, shut)
    timer.daemon = True
    timer.start()
    return timer


def abandon(environ: dict[str, Any]) -> None:
    """The body will not be read (the request is refused): under gunicorn, take what has already arrived
    (a fast client's whole body, so closing sends no reset that could cut our answer short) and shut
    the socket's reading side. gunicorn closes a connection by lingering on its main thread until the
    client hangs up (up to 2 s each): a client that never does would hold that thread, and every other
    connection with it; with reading shut the linger ends at once."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return
    with contextlib.suppress(OSError):  # BlockingIOError: nothing more has arrived
        for _ in range(DRAIN_MAX // CHUNK):
            if not sock.recv(CHUNK, socket.MSG_DONTWAIT):
                break
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)


class ClosingResponse(Response):
    """A response that can ask the server to close the connection after it.

    WSGI forbids an application to send `Connection` (waitress refuses it), and gunicorn drops it;
    gunicorn's own `start_response` belongs to its response object, whose `force_close()` makes it
    answer `Connection: close` and close without draining the body. Other servers ignore the flag."""

    close_connection = False

    def close_after(self) -> None:
        """Close the connection after this response, and never read the unread body first: functions-
        framework's own `read_request` hook reads the whole body before any response that is not
        streamed, so the body of this one is handed over as an iterator (its Content-Length stays)."""
        self.close_connection = True
        if not self.direct_passthrough and not self.is_streamed:
            self.response = iter((self.get_data(),))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.close_connection:
            force_close = getattr(getattr(start_response, "__self__", None), "force_close", None)
            if callable(force_close):
                force_close()
        return super().__call__(environ, start_response)
