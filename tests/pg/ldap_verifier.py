"""A minimal LDAP simple-bind responder, so PostgreSQL's ``ldap`` auth can check IAM tokens.

PostgreSQL in simple-bind mode connects to ``ldapserver:ldapport``, sends a BindRequest with the DN
``ldapprefix + user + ldapsuffix`` and the client's password, and accepts the login iff the result code
is 0. This module speaks exactly that much LDAPv3 (RFC 4511) in hand-written BER:

    LDAPMessage ::= SEQUENCE { messageID INTEGER, protocolOp CHOICE {...}, controls [0] OPTIONAL }
    BindRequest ::= [APPLICATION 0] SEQUENCE { version INTEGER, name OCTET STRING,
                                               authentication CHOICE { simple [0] OCTET STRING, ... } }
    BindResponse ::= [APPLICATION 1] SEQUENCE { resultCode ENUMERATED, matchedDN, diagnosticMessage }
    UnbindRequest ::= [APPLICATION 2] NULL

Lengths may be multi-byte (IAM tokens with session tokens are 2,000+ bytes). Anything else closes the
connection. The decision is made by a callback ``check(dn, password) -> (accepted, reason)``.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Callable

SUCCESS = 0
PROTOCOL_ERROR = 2
AUTH_METHOD_NOT_SUPPORTED = 7
INVALID_CREDENTIALS = 49

MAX_MESSAGE = 1 << 20  # refuse anything larger than 1 MiB

TAG_SEQUENCE = 0x30
TAG_INTEGER = 0x02
TAG_OCTET_STRING = 0x04
TAG_ENUMERATED = 0x0A
TAG_BIND_REQUEST = 0x60  # [APPLICATION 0], constructed
TAG_BIND_RESPONSE = 0x61  # [APPLICATION 1], constructed
TAG_UNBIND_REQUEST = 0x42  # [APPLICATION 2], primitive
TAG_SIMPLE_AUTH = 0x80  # [0], primitive

Check = Callable[[bytes, bytes], tuple[bool, str]]


class BerError(ValueError):
    """Malformed or unsupported BER."""


# ---------------------------------------------------------------- BER encoding / decoding


def encode_length(n: int) -> bytes:
    if n < 0:
        raise BerError("negative length")
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode_tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + encode_length(len(value)) + value


def encode_integer(tag: int, n: int) -> bytes:
    length = max(1, (n.bit_length() + 8) // 8)  # room for the sign bit
    return encode_tlv(tag, n.to_bytes(length, "big", signed=True))


def decode_length(data: bytes, pos: int) -> tuple[int, int]:
    """Return (length, position after the length octets)."""
    if pos >= len(data):
        raise BerError("truncated length")
    first = data[pos]
    pos += 1
    if first < 0x80:
        return first, pos
    count = first & 0x7F
    if count == 0:
        raise BerError("indefinite length is not allowed in LDAP")
    if count > 4 or pos + count > len(data):
        raise BerError("bad long-form length")
    return int.from_bytes(data[pos : pos + count], "big"), pos + count


def decode_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """Return (tag, value, position after the element)."""
    if pos >= len(data):
        raise BerError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tags are not used by LDAP")
    length, pos = decode_length(data, pos + 1)
    end = pos + length
    if end > len(data):
        raise BerError("element longer than its container")
    return tag, data[pos:end], end


def decode_integer(value: bytes) -> int:
    if not value or len(value) > 8:
        raise BerError("bad INTEGER")
    return int.from_bytes(value, "big", signed=True)


def bind_response(message_id: int, result_code: int, diagnostic: str = "") -> bytes:
    body = (
        encode_integer(TAG_ENUMERATED, result_code)
        + encode_tlv(TAG_OCTET_STRING, b"")
        + encode_tlv(TAG_OCTET_STRING, diagnostic.encode("utf-8"))
    )
    return encode_tlv(
        TAG_SEQUENCE, encode_integer(TAG_INTEGER, message_id) + encode_tlv(TAG_BIND_RESPONSE, body)
    )


class Request:
    """A decoded LDAPMessage we understand: a simple bind or an unbind."""

    def __init__(self, message_id: int, op: str, dn: bytes = b"", password: bytes | None = None) -> None:
        self.message_id = message_id
        self.op = op  # "bind", "bind-unsupported" or "unbind"
        self.dn = dn
        self.password = password


def parse_message(message: bytes) -> Request:
    """Parse one complete LDAPMessage (the bytes of the outer SEQUENCE element)."""
    tag, body, end = decode_tlv(message, 0)
    if tag != TAG_SEQUENCE or end != len(message):
        raise BerError("LDAPMessage must be one SEQUENCE")
    tag, value, pos = decode_tlv(body, 0)
    if tag != TAG_INTEGER:
        raise BerError("messageID must be an INTEGER")
    message_id = decode_integer(value)
    tag, op, _ = decode_tlv(body, pos)  # controls after the op are ignored
    if tag == TAG_UNBIND_REQUEST:
        return Request(message_id, "unbind")
    if tag != TAG_BIND_REQUEST:
        raise BerError(f"unsupported protocolOp tag 0x{tag:02x}")
    tag, value, pos = decode_tlv(op, 0)
    if tag != TAG_INTEGER:
        raise BerError("bind version must be an INTEGER")
    if decode_integer(value) != 3:
        return Request(message_id, "bind-unsupported")
    tag, dn, pos = decode_tlv(op, pos)
    if tag != TAG_OCTET_STRING:
        raise BerError("bind name must be an OCTET STRING")
    tag, password, pos = decode_tlv(op, pos)
    if tag != TAG_SIMPLE_AUTH:
        return Request(message_id, "bind-unsupported", dn)
    return Request(message_id, "bind", dn, password)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 65536))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_message(sock: socket.socket) -> bytes | None:
    """Read one whole BER element from the socket; None on a clean EOF before it starts."""
    try:
        head = _recv_exact(sock, 2)
    except EOFError:
        return None
    first = head[1]
    if first < 0x80:
        return head + _recv_exact(sock, first)
    count = first & 0x7F
    if count == 0 or count > 4:
        raise BerError("bad length in message header")
    extra = _recv_exact(sock, count)
    length = int.from_bytes(extra, "big")
    if length > MAX_MESSAGE:
        raise BerError("message too large")
    return head + extra + _recv_exact(sock, length)


# ---------------------------------------------------------------- the server


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        try:
            while True:
                raw = read_message(sock)
                if raw is None:
                    return
                req = parse_message(raw)
                if req.op == "unbind":
                    return
                if req.op == "bind-unsupported" or req.password is None:
                    sock.sendall(bind_response(req.message_id, AUTH_METHOD_NOT_SUPPORTED, "simple bind only"))
                    continue
                try:
                    accepted, reason = self.server.check(req.dn, req.password)
                except Exception as exc:  # a bug in the check must not hang PostgreSQL
                    accepted, reason = False, f"verifier error: {type(exc).__name__}"
                code = SUCCESS if accepted else INVALID_CREDENTIALS
                sock.sendall(bind_response(req.message_id, code, reason))
        except (BerError, EOFError, OSError):
            return


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], check: Check) -> None:
        self.check = check
        super().__init__(address, _Handler)


class LdapBindVerifier:
    """Threaded LDAP bind responder on 127.0.0.1; ``check(dn, password)`` decides each bind."""

    def __init__(self, check: Check, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = _Server((host, port), check)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def start(self) -> LdapBindVerifier:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                name=f"ldap-verifier-{self.port}",
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> LdapBindVerifier:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def strip_dn(dn: str, prefix: str, suffix: str) -> str | None:
    """The role name from ``prefix + role + suffix`` (PostgreSQL does no escaping), else None."""
    if len(dn) < len(prefix) + len(suffix) or not dn.startswith(prefix) or not dn.endswith(suffix):
        return None
    return dn[len(prefix) : len(dn) - len(suffix)]
