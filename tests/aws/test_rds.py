"""RDS provider: contract, and every RDS host form through the CLI against the real PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pgiam.config.model import Service
from pgiam.providers.base import Token
from tests.conftest import TEST_KEY_ID, TEST_SECRET, Cli
from tests.e2e_helpers import add_args, prepare, psql_service
from tests.pg.rig import Rig
from tests.pg.sigv4_check import verify_presigned
from tests.providers.test_contract import SESSION, ProviderContract

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"


class TestRdsContract(ProviderContract):
    @pytest.fixture
    def svc(self) -> Service:
        return Service(name="db", host=HOST, user="alice", region="us-west-2")

    def accepts(self, token: Token, svc: Service) -> None:
        verify_presigned(
            token.value,
            service="rds-db",
            expected_host=f"{HOST}:5432",
            action="connect",
            lookup={TEST_KEY_ID: (TEST_SECRET, SESSION)}.get,
            now=time.time(),
            region="us-west-2",
            expected_params={"DBUser": "alice"},
        )


HOST_FORMS = [
    ("mycluster.cluster-c9akciq32.eu-west-1.rds.amazonaws.com", "eu-west-1"),
    ("mycluster.cluster-ro-c9akciq32.eu-west-1.rds.amazonaws.com", "eu-west-1"),
    ("reporting.cluster-custom-c9akciq32.ap-southeast-2.rds.amazonaws.com", "ap-southeast-2"),
    ("myproxy.proxy-c9akciq32.us-east-1.rds.amazonaws.com", "us-east-1"),
    ("readonly.endpoint.proxy-c9akciq32.us-east-1.rds.amazonaws.com", "us-east-1"),
    ("db1.c9akciq32.rds.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("db1.c9akciq32.us-gov-west-1.rds.amazonaws.com", "us-gov-west-1"),
]


@pytest.mark.pg
def test_every_host_form_connects(rig: Rig, cli: Cli, isolated_env: Path) -> None:
    """Region inferred from the host, token signed for it, accepted by the rig's verifier."""
    prepare(rig, cli)
    for i, (host, region) in enumerate(HOST_FORMS):
        rig.host, rig.region = host, region
        name = f"form{i}"
        # sslmode=require: the rig's certificate names only its default host (the CA is still checked)
        args = [*add_args(rig, name, "jane_doe"), "--sslmode", "require"]
        r = cli(*args)
        assert r.code == 0, (host, r.err)
        p = psql_service(rig, isolated_env, name)
        assert p.returncode == 0 and p.stdout.strip() == "jane_doe", (host, p.stderr)
        event = rig.verifier_events()[-1]
        assert event.accepted, (host, event.reason)
