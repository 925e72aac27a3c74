"""A loopback HTTP server for download tests: serves files, 404s, redirects, a body cut short and a
stalled response, on 127.0.0.1 with a free port, in a background thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the server does for one path: `kind` is file, redirect, truncate, chunked_cut or stall."""

    kind: str
    data: bytes = b""
    location: str = ""
    keep: int = 0  # truncate / stall: bytes of the body sent before closing / going silent


class LoopbackServer:
    """Routes by path (`/name`); anything unrouted is a 404. `requests` lists the paths asked for."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        self.release = threading.Event()  # ends stalled responses when the server stops
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.requests.append(self.path)
                server.respond(self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, data: bytes) -> str:
        """Serve `data` at `path`; returns its full URL."""
        self.routes[path] = Route("file", data)
        return self.url + path

    def redirect(self, path: str, location: str) -> str:
        """Answer `path` with a 302 to `location` (absolute or a path on this server)."""
        self.routes[path] = Route("redirect", location=location)
        return self.url + path

    def truncate(self, path: str, data: bytes, keep: int) -> str:
        """Promise len(data) bytes at `path`, send the first `keep`, then close the connection."""
        self.routes[path] = Route("truncate", data, keep=keep)
        return self.url + path

    def chunked_cut(self, path: str, data: bytes, keep: int) -> str:
        """Send `data` as one chunk of Transfer-Encoding: chunked (no Content-Length), but close the
        connection after its first `keep` bytes."""
        self.routes[path] = Route("chunked_cut", data, keep=keep)
        return self.url + path

    def stall(self, path: str, data: bytes, keep: int = 0) -> str:
        """Promise len(data) bytes at `path`, send the first `keep`, then send nothing more."""
        self.routes[path] = Route("stall", data, keep=keep)
        return self.url + path

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(handler.path)
        if route is None:
            handler.send_error(404, "Not Found")
            return
        if route.kind == "redirect":
            handler.send_response(302)
            handler.send_header("Location", route.location)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        if route.kind == "chunked_cut":
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            handler.wfile.write(f"{len(route.data):x}\r\n".encode() + route.data[: route.keep])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(route.data)))
        handler.end_headers()
        body = route.data if route.kind == "file" else route.data[: route.keep]
        handler.wfile.write(body)
        handler.wfile.flush()
        if route.kind == "stall":
            self.release.wait(timeout=30)
        handler.close_connection = True

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@contextmanager
def loopback_server() -> Iterator[LoopbackServer]:
    """A started LoopbackServer, stopped on exit."""
    server = LoopbackServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
