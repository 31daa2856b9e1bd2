"""`pgiam ca install` against a real HTTPS server on 127.0.0.1 (its certificate trusted through
SSL_CERT_FILE) and local files; `add` picks the bundle up. Plain http is refused, loopback included."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ca_helpers import bundle
from tests.conftest import Cli

HOST = "mydb.abc123.us-east-1.rds.amazonaws.com"
PAGES: dict[str, tuple[int, bytes]] = {}


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        code, body = PAGES.get(self.path, (404, b"<html><body>Not Found</body></html>"))
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.fixture(autouse=True)
def trust_test_server(tls_cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_cert[0]))


@pytest.fixture(scope="module")
def server(tls_cert: tuple[Path, Path]) -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    PAGES.clear()
    good = bundle(2)
    PAGES.update(
        {
            "/global-bundle.pem": (200, good),
            "/error.html": (
                200,
                b"<!DOCTYPE html>\n<html><head><title>Captive portal</title></head></html>\n",
            ),
            "/empty.pem": (200, b""),
            "/truncated.pem": (200, good[: len(good) // 2 + 10]),
            "/gone.pem": (503, b"<html>Service Unavailable</html>"),
        }
    )
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_install_from_url_then_add_uses_it(cli: Cli, server: str, isolated_env: Path) -> None:
    dest = isolated_env / ".postgresql" / "rds-global-bundle.pem"
    r = cli("ca", "install", "--from", f"{server}/global-bundle.pem")
    assert r.code == 0, r.err
    assert "installed 2 certificates" in r.out and str(dest) in r.out
    assert dest.read_bytes() == bundle(2)
    assert dest.stat().st_mode & 0o777 == 0o644 & ~0o022 or dest.stat().st_mode & 0o022 == 0
    mtime = dest.stat().st_mtime_ns
    r = cli("ca", "install", "--from", f"{server}/global-bundle.pem")
    assert r.code == 0 and "already up to date" in r.out and dest.stat().st_mtime_ns == mtime
    # add defaults sslrootcert to the installed bundle
    cli.static_keys()
    r = cli("add", "prod", "--host", HOST, "--user", "alice")
    assert r.code == 0, r.err
    assert f"sslrootcert = {dest}" in r.out
    stanza = (isolated_env / ".pg_service.conf").read_text()
    assert f"sslrootcert={dest}\n" in stanza
    # an explicit --sslrootcert still wins
    other = isolated_env / "other.pem"
    other.write_bytes(bundle(1))
    assert cli("add", "prod", "--host", HOST, "--user", "alice", "--sslrootcert", str(other)).code == 0
    assert f"sslrootcert={other}\n" in (isolated_env / ".pg_service.conf").read_text()


def test_add_without_bundle_sets_no_sslrootcert(cli: Cli, isolated_env: Path) -> None:
    cli.static_keys()
    r = cli("add", "prod", "--host", HOST, "--user", "alice")
    assert r.code == 0, r.err
    assert "sslrootcert" not in (isolated_env / ".pg_service.conf").read_text()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/error.html", "HTML/XML page"),
        ("/empty.pem", "is empty"),
        ("/truncated.pem", "truncated or damaged"),
        ("/gone.pem", "HTTP 503"),
        ("/missing.pem", "HTTP 404"),
    ],
)
def test_bad_downloads_write_nothing(
    cli: Cli, server: str, isolated_env: Path, path: str, message: str
) -> None:
    dest = isolated_env / "ca.pem"
    dest.write_bytes(b"previous\n")
    r = cli("ca", "install", "--from", server + path, "--dest", str(dest))
    assert r.code == 1 and message in r.err and r.err.startswith("pgiam: error: ")
    assert len(r.err.strip().splitlines()) == 1
    assert dest.read_bytes() == b"previous\n"


def test_install_from_file(cli: Cli, tmp_path: Path) -> None:
    src = tmp_path / "bundle.pem"
    src.write_bytes(bundle(2))
    dest = tmp_path / "out" / "ca.pem"
    r = cli("ca", "install", "--from", str(src), "--dest", str(dest))
    assert r.code == 0 and dest.read_bytes() == bundle(2)
    src.write_bytes(b"")
    r = cli("ca", "install", "--from", str(src), "--dest", str(dest))
    assert r.code == 1 and "is empty" in r.err and dest.read_bytes() == bundle(2)
    r = cli("ca", "install", "--from", str(tmp_path / "nope.pem"), "--dest", str(dest))
    assert r.code == 1 and "cannot read" in r.err


@pytest.mark.parametrize("url", ["http://example.com/global-bundle.pem", "http://127.0.0.1:9/b.pem",
                                 "ftp://example.com/b.pem"])
def test_only_https_urls_or_files(cli: Cli, tmp_path: Path, url: str) -> None:
    r = cli("ca", "install", "--from", url, "--dest", str(tmp_path / "x.pem"))
    assert r.code == 2 and "only https:// URLs or local files" in r.err, r.err
    assert not (tmp_path / "x.pem").exists()
