"""PEM bundle validation: real certificates pass; HTML, empty, truncated and damaged input fail."""

from __future__ import annotations

import pytest

from pgiam.host import ca
from tests.ca_helpers import bundle


def test_real_bundle_counts() -> None:
    assert ca.count_certificates(bundle(2)) == 2
    assert ca.count_certificates(b"# comment\n\n" + bundle(2) + b"\n") == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "is empty"),
        (b"  \n\n", "is empty"),
        (b"<!DOCTYPE html><html><body>503 Service Unavailable</body></html>", "HTML/XML page"),
        (b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>", "HTML/XML page"),
        (b"\x30\x82\x01\x00binary", "is binary"),
        (b"hello world\n", "no -----BEGIN CERTIFICATE----- block"),
    ],
)
def test_rejects_non_pem(data: bytes, message: str) -> None:
    with pytest.raises(ca.BundleError, match=message):
        ca.count_certificates(data, "x.pem")


def test_rejects_truncated_file() -> None:
    data = bundle(2)
    cut = data[: len(data) - 200]  # the second certificate loses its end
    with pytest.raises(ca.BundleError, match="truncated or damaged"):
        ca.count_certificates(cut)


def test_rejects_a_cut_inside_a_begin_line() -> None:
    data = bundle(2)
    second = data.index(b"-----BEGIN", 10)
    with pytest.raises(ca.BundleError, match="truncated or damaged"):
        ca.count_certificates(data[: second + 9])


def test_rejects_truncated_base64_inside_a_block() -> None:
    data = bundle(1).decode()
    lines = data.splitlines()
    shortened = "\n".join([lines[0], *lines[1:-3], lines[-1]]) + "\n"  # drop two base64 lines
    with pytest.raises(ca.BundleError, match=r"not a complete DER certificate|not valid base64"):
        ca.count_certificates(shortened.encode())


def test_rejects_garbage_base64() -> None:
    data = b"-----BEGIN CERTIFICATE-----\n!!!notbase64!!!\n-----END CERTIFICATE-----\n"
    with pytest.raises(ca.BundleError, match="not valid base64"):
        ca.count_certificates(data)


def test_rejects_non_sequence_der() -> None:
    data = b"-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n"
    with pytest.raises(ca.BundleError, match="not a complete DER"):
        ca.count_certificates(data)

