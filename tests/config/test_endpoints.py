"""Every AWS host form pgiam signs for, and the names it must refuse to guess about."""

from __future__ import annotations

import pytest

from pgiam.config.endpoints import Endpoint, is_ip_or_local, parse_endpoint

KNOWN = [
    ("db1.abc123xyz.us-west-2.rds.amazonaws.com", "rds", "us-west-2"),
    ("mycluster.cluster-c9akciq32.eu-west-1.rds.amazonaws.com", "rds", "eu-west-1"),
    ("mycluster.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com", "rds", "eu-west-1"),
    ("reporting.cluster-custom-c9akciq32.ap-southeast-2.rds.amazonaws.com", "rds", "ap-southeast-2"),
    ("myproxy.proxy-c9akciq32.us-east-1.rds.amazonaws.com", "rds", "us-east-1"),
    ("readonly.endpoint.proxy-c9akciq32.us-east-1.rds.amazonaws.com", "rds", "us-east-1"),
    ("db1.c9akciq32.rds.cn-north-1.amazonaws.com.cn", "rds", "cn-north-1"),
    ("mycluster.cluster-ro-c9akciq32.rds.cn-northwest-1.amazonaws.com.cn", "rds", "cn-northwest-1"),
    ("myproxy.proxy-c9akciq32.rds.cn-north-1.amazonaws.com.cn", "rds", "cn-north-1"),
    ("db1.c9akciq32.us-gov-west-1.rds.amazonaws.com", "rds", "us-gov-west-1"),
    ("mycluster.cluster-c9akciq32.us-gov-east-1.rds.amazonaws.com", "rds", "us-gov-east-1"),
    ("DB1.ABC123XYZ.US-WEST-2.RDS.AMAZONAWS.COM", "rds", "us-west-2"),
    ("abcdefghijklmnopqrstuvwxyz.dsql.us-east-1.on.aws", "dsql", "us-east-1"),
    ("warehouse.c0ffee12.eu-central-1.redshift.amazonaws.com", "redshift", "eu-central-1"),
    (
        "analytics.123456789012.us-east-1.redshift-serverless.amazonaws.com",
        "redshift-serverless",
        "us-east-1",
    ),
]


@pytest.mark.parametrize(("host", "family", "region"), KNOWN)
def test_known_forms(host: str, family: str, region: str) -> None:
    assert parse_endpoint(host) == Endpoint(family, region)
    assert not is_ip_or_local(host)


@pytest.mark.parametrize(
    "host",
    [
        "db.mycorp.example",
        "postgres.internal",
        "rds.amazonaws.com",
        "x.rds.amazonaws.com",
        "a.b.c.d.us-east-1.rds.amazonaws.com",
        "db1.abc.us-west-2.rds.amazonaws.com.evil.example",
        "db1.abc.notaregion.rds.amazonaws.com",
        "10.0.0.5",
        "localhost",
        "::1",
        "[::1]",
    ],
)
def test_not_endpoints(host: str) -> None:
    assert parse_endpoint(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "10.0.0.5",
        "127.0.0.1",
        "::1",
        "[fe80::1]",
        "localhost",
        "LOCALHOST",
        "db.localhost",
        "localhost.localdomain",
    ],
)
def test_ip_or_local(host: str) -> None:
    assert is_ip_or_local(host)


def test_config_refuses_ip_and_cname_unless_signing_host(tmp_path: object) -> None:
    from pathlib import Path

    from pgiam.config.model import build_services
    from pgiam.errors import ConfigError

    path = Path("config.toml")
    for host, what in (
        ("127.0.0.1", "IP address or localhost"),
        ("db.mycorp.example", "not an AWS endpoint"),
    ):
        with pytest.raises(ConfigError, match=what):
            build_services([(path, {"services": {"s": {"host": host, "user": "u"}}})])
    svc = build_services(
        [
            (
                path,
                {
                    "services": {
                        "s": {
                            "host": "db.mycorp.example",
                            "user": "u",
                            "signing_host": "db1.abc.us-west-2.rds.amazonaws.com",
                        }
                    }
                },
            )
        ]
    )["s"]
    assert svc.sign_host == "db1.abc.us-west-2.rds.amazonaws.com" and svc.region == "us-west-2"
    with pytest.raises(ConfigError, match="does not match the region"):
        build_services(
            [
                (
                    path,
                    {
                        "services": {
                            "s": {
                                "host": "db1.abc.us-west-2.rds.amazonaws.com",
                                "user": "u",
                                "region": "us-east-1",
                            }
                        }
                    },
                )
            ]
        )
    china = build_services(
        [(path, {"services": {"s": {"host": "db1.c9akciq32.rds.cn-north-1.amazonaws.com.cn", "user": "u"}}})]
    )["s"]
    assert china.region == "cn-north-1" and china.kind == "rds"
