"""The operating system's CA bundle as a file, for libpq older than 16 (no sslrootcert=system)."""

from __future__ import annotations

import os

# the first of these that exists is the bundle OpenSSL-based clients on that system trust
CANDIDATES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL, Amazon Linux
    "/etc/ssl/ca-bundle.pem",  # openSUSE
    "/etc/ssl/cert.pem",  # macOS, BSDs
)


def bundle_file() -> str | None:
    """SSL_CERT_FILE when it names a file, else the first system bundle that exists, else None."""
    env = os.environ.get("SSL_CERT_FILE")
    for path in ((env,) if env else ()) + CANDIDATES:
        if os.path.isfile(path):
            return path
    return None
