"""What every local stand-in of a remote service (Slack here; Teams and the CRMs in the tests)
does the same way on the wire: a quiet request handler that hands each request to the
stand-in, and a JSON answer with its status and headers."""

from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

METHODS = ("GET", "POST")


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
