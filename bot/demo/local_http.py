"""What every local stand-in of a remote service (Slack here; Teams and the CRMs in the tests)
does the same way: serving on a free local port, a quiet request handler that hands each
request to the stand-in, a JSON answer with its status and headers, and failures planned for
the next calls of a method."""

import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol, Self, TypeVar

METHODS = ("GET", "POST")


class Plan(Protocol):
    """A failure planned for the next calls of a method: how many calls it has left."""

    remaining: int


P = TypeVar("P", bound=Plan)


def next_plan(plans: list[P]) -> P | None:
    """The first of `plans`, one call of it used; a plan used up leaves the list. The caller
    holds the lock that guards `plans`."""
    if not plans:
        return None
    plan = plans[0]
    plan.remaining -= 1
    if plan.remaining <= 0:
        plans.pop(0)
    return plan


def handler(
    serve: Callable[[BaseHTTPRequestHandler], None],
    *,
    methods: tuple[str, ...] = METHODS,
    protocol: str = "HTTP/1.0",
    no_delay: bool = False,
) -> type[BaseHTTPRequestHandler]:
    """A handler class that gives each request of `methods` to `serve` and logs nothing:
    tests read the stand-in's recorded calls instead. `no_delay` sends headers and body at
    once, not 40 ms apart (Nagle's algorithm off)."""

    def do(request: BaseHTTPRequestHandler) -> None:
        serve(request)

    def log_message(request: BaseHTTPRequestHandler, format: str, *args: Any) -> None:
        """Quiet."""

    attributes: dict[str, Any] = {
        "protocol_version": protocol,
        "disable_nagle_algorithm": no_delay,
        "log_message": log_message,
    }
    attributes |= {f"do_{method}": do for method in methods}
    return type("Handler", (BaseHTTPRequestHandler,), attributes)


def send_json(
    request: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    content_type: str = "application/json; charset=utf-8",
) -> None:
    """Answer `request` with `status`, the JSON `body` (already encoded) and `headers`."""
    request.send_response(status)
    request.send_header("Content-Type", content_type)
    request.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.end_headers()
    request.wfile.write(body)


class LocalServer:
    """A stand-in served on a free port of 127.0.0.1 from a background thread, started and
    stopped with it (or by `with`). A subclass gives its handler class in `_handler`."""

    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> Self:
        """Bind a free port and serve in the background; returns self for chaining."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=type(self).__name__,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port, so the next test cannot reach a stale server."""
        server, thread = self._server, self._thread
        self._server, self._thread = None, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(
                f"{type(self).__name__} is not started; call start() or use it as a context manager"
            )
        return int(self._server.server_address[1])
