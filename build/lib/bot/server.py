"""The HTTP server: uvicorn on a socket Baton binds itself, saying it listens once it does.

Binding first makes a port in use (or one that needs privileges) one clear line before
anything starts, and "Baton listens" is only printed once uvicorn serves on that socket.
"""

import errno
import socket
from collections.abc import Callable

import uvicorn


class CannotListen(Exception):
    """The socket cannot be bound; the message says why and what to pass instead."""


def listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            message = f"port {port} is in use on {host}: stop what listens there, or pass --port"
        elif error.errno == errno.EACCES:
            message = f"may not listen on port {port} (below 1024 needs privileges): pass --port"
        elif isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
            message = f"{host} is no address of this machine: pass --host 0.0.0.0 or one of its"
        else:
            message = f"cannot listen on {host}:{port}: {error.strerror or error}"
        raise CannotListen(message) from None
    sock.set_inheritable(True)
    return sock


class Server(uvicorn.Server):
    """uvicorn, calling `on_start` once the app has started and the socket serves."""

    def __init__(self, config: uvicorn.Config, *, on_start: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_start = on_start

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self.on_start()
