"""The Amazon RDS CA bundle: whether bytes really are a PEM certificate bundle.

Pure (the bundle's default path lives in pgiam.config.paths); fetching and writing live in commands/ca.py.
"""

from __future__ import annotations

import base64
import binascii
import re

from pgiam.errors import PgiamError

DEFAULT_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"
MAX_BYTES = 4 * 1024 * 1024  # the global bundle is ~160 KB

_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"
_BLOCK_RE = re.compile(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", re.S)


class BundleError(PgiamError):
    """The bytes are not a usable PEM certificate bundle (exit 1); nothing was written."""


def _der_length_ok(der: bytes) -> bool:
    """A DER SEQUENCE (tag 0x30) whose encoded length is exactly the rest of the bytes."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    first = der[1]
    if first < 0x80:
        return len(der) == 2 + first
    n = first & 0x7F
    if n == 0 or n > 4 or len(der) < 2 + n:
        return False
    length = int.from_bytes(der[2 : 2 + n], "big")
    return len(der) == 2 + n + length


def count_certificates(data: bytes, where: str = "the bundle") -> int:
    """Number of certificates in a PEM bundle; BundleError naming what is wrong otherwise.

    Every BEGIN CERTIFICATE block must have its END line and base64 that decodes to one complete DER
    SEQUENCE. Text outside the blocks (comments, blank lines) is allowed, as in OpenSSL.
    """
    if not data.strip():
        raise BundleError(f"{where} is empty; expected PEM certificates (-----BEGIN CERTIFICATE-----)")
    head = data[:2048].lstrip().lower()
    if _BEGIN not in data:
        if head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head", b"<body")) or b"<html" in head:
            raise BundleError(f"{where} is an HTML/XML page, not a PEM bundle (an error page from the "
                              "server or a proxy?); check the URL or use --from FILE")
        if b"\0" in data[:2048] or (data[:1] == b"\x30" and len(data) > 1):
            raise BundleError(f"{where} is binary (DER?), not PEM text; convert it with "
                              "`openssl x509 -inform der` or download the .pem bundle")
        raise BundleError(f"{where} holds no -----BEGIN CERTIFICATE----- block; it is not a PEM bundle")
    blocks = _BLOCK_RE.findall(data)
    tail = data[data.rfind(_END) + len(_END):] if _END in data else data
    if data.count(_BEGIN) != len(blocks) or data.count(_END) != len(blocks) or b"-----" in tail:
        raise BundleError(f"{where} is truncated or damaged: {data.count(_BEGIN)} BEGIN CERTIFICATE lines "
                          f"but {len(blocks)} complete blocks; download it again")
    for i, body in enumerate(blocks, 1):
        b64 = b"".join(body.split())
        try:
            der = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise BundleError(f"{where}: certificate {i} is not valid base64; download it again") from None
        if not _der_length_ok(der):
            raise BundleError(f"{where}: certificate {i} is not a complete DER certificate (truncated?); "
                              "download it again")
    return len(blocks)
