"""Generated PEM certificates for the CA tests (openssl, once per session)."""

from __future__ import annotations

import functools
import subprocess
import tempfile
from pathlib import Path


@functools.cache
def bundle(count: int = 2) -> bytes:
    """`count` fresh self-signed CA certificates, concatenated like the RDS global bundle."""
    out = b""
    with tempfile.TemporaryDirectory() as d:
        for i in range(count):
            key, crt = Path(d) / f"{i}.key", Path(d) / f"{i}.crt"
            subprocess.run(
                [
                    "openssl",
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    str(key),
                    "-out",
                    str(crt),
                    "-days",
                    "2",
                    "-subj",
                    f"/CN=pgiam test CA {i}",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            out += crt.read_bytes()
    return out
