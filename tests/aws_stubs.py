"""Local stand-ins for AWS endpoints, all on 127.0.0.1: moto's server (in this process) and a tiny
JSON/XML HTTP server for APIs moto lacks. Import the fixtures into a test module to use them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest

from tests.pg.sigv4_check import Credentials


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Reply = tuple[int, str, bytes]  # status, content type, body
Handler = Callable[[Request], Reply]


@dataclass
class LocalServer:
    """An HTTP server thread on 127.0.0.1 that answers with `handler` and records every request."""

    handler: Handler
    requests: list[Request] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> LocalServer:
        outer = self

        class _H(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = Request(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                outer.requests.append(req)
                status, ctype, body = outer.handler(req)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def json_reply(doc: object, status: int = 200) -> Reply:
    return status, "application/json", json.dumps(doc).encode()


def iso_in(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def local_server() -> Iterator[Callable[[Handler], LocalServer]]:
    started: list[LocalServer] = []

    def make(handler: Handler) -> LocalServer:
        server = LocalServer(handler).start()
        started.append(server)
        return server

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server in a thread of this process (so tests can read its backends)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def moto_secret_lookup(access_key_id: str) -> Credentials | None:
    """The secret and session token moto's STS issued for an access key id (assume-role, web identity)."""
    from moto.sts.models import sts_backends

    for account_id in list(sts_backends.keys()):
        for partition in list(sts_backends[account_id].keys()):
            for role in sts_backends[account_id][partition].assumed_roles:
                if role.access_key_id == access_key_id:
                    return role.secret_access_key, role.session_token
    return None
