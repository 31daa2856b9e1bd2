"""`pgiam ca install [--from URL|FILE] [--dest PATH]`: fetch, check and atomically write the RDS CA bundle."""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from pgiam import atomic
from pgiam.config.paths import default_bundle
from pgiam.errors import UsageError
from pgiam.flow.context import Context
from pgiam.host import ca

TIMEOUT = 30.0


def download(url: str, timeout: float = TIMEOUT) -> bytes:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "http":
        raise UsageError(f"--from {url}: refusing plain http for a trust anchor: only https:// URLs or local "
                         "files are accepted")
    if parts.scheme != "https":
        raise UsageError(f"--from {url}: only https:// URLs or local files are accepted")
    req = urllib.request.Request(url, headers={"User-Agent": "pgiam"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data: bytes = resp.read(ca.MAX_BYTES + 1)
    except urllib.error.HTTPError as e:
        raise ca.BundleError(f"cannot download {url}: HTTP {e.code} {e.reason}; check the URL") from None
    except urllib.error.URLError as e:
        raise ca.BundleError(
            f"cannot download {url}: {e.reason}; check the network or use --from FILE"
        ) from None
    except (OSError, ValueError) as e:
        raise ca.BundleError(f"cannot download {url}: {e}; check the network or use --from FILE") from None
    if len(data) > ca.MAX_BYTES:
        raise ca.BundleError(f"{url} is larger than {ca.MAX_BYTES // 1024 // 1024} MB; not a CA bundle")
    return data


def read_source(source: str) -> tuple[bytes, str]:
    """(bytes, description) from an http(s) URL or a local file (file:// URLs too)."""
    if source.startswith(("http://", "https://")) or ("://" in source and not source.startswith("file://")):
        return download(source), source
    if source.startswith("file://"):
        path = Path(urllib.parse.unquote(urllib.parse.urlsplit(source).path))
    else:
        path = Path(os.path.expanduser(source))
    try:
        with path.open("rb") as f:
            data = f.read(ca.MAX_BYTES + 1)
    except OSError as e:
        raise ca.BundleError(f"cannot read {path}: {e.strerror}") from None
    if len(data) > ca.MAX_BYTES:
        raise ca.BundleError(f"{path} is larger than {ca.MAX_BYTES // 1024 // 1024} MB; not a CA bundle")
    return data, str(path)


def install(ctx: Context, source: str | None, dest: str | None) -> int:
    src = source or ca.DEFAULT_URL
    target = Path(os.path.expanduser(dest)) if dest else default_bundle(ctx.platform)
    data, shown = read_source(src)
    n = ca.count_certificates(data, shown)
    changed = atomic.update_file(target, lambda _old: data, private=False)
    digest = hashlib.sha256(data).hexdigest()[:16]
    verb = "installed" if changed else "already up to date:"
    plural = "s" if n != 1 else ""
    ctx.out.info(f"{verb} {n} certificate{plural} from {shown} in {target} (sha256 {digest}...)")
    if dest is None:
        ctx.out.detail(f"`pgiam add` now uses {target} as sslrootcert when none is given")
    return 0


def run(ctx: Context, action: str, source: str | None, dest: str | None) -> int:
    if action != "install":
        raise UsageError(f"unknown ca action {action!r}: install")
    return install(ctx, source, dest)
