"""The no-op refresh and `status` import no cloud SDK for Azure, Cloud SQL and AlloyDB services either:
their tokens are opaque, so the expiry comes from the state pgiam recorded with the token's hash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cloud_stubs import FakeAz, GoogleTokenEndpoint, service_account_adc
from tests.conftest import Cli

PROBE = (
    "import json, sys\n"
    "from pgiam.cli.main import main\n"
    "code = main(sys.argv[1:])\n"
    "sdk = sorted(m for m in sys.modules if m.split('.')[0] in ('botocore', 'boto3', 'azure', 'google', 'msal'))\n"
    "print('PROBE ' + json.dumps({'code': code, 'sdk': sdk}))\n"
)


def probe(cli: Cli, *args: str) -> tuple[int, list[str], str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True,
                          env=cli.environ(), cwd=str(cli.home), timeout=60)
    line = [x for x in proc.stdout.splitlines() if x.startswith("PROBE ")]
    assert line, proc.stderr
    result = json.loads(line[-1][len("PROBE "):])
    return result["code"], result["sdk"], proc.stdout


def test_noop_refresh_of_cloud_services_imports_no_sdk(cli: Cli, isolated_env: Path, tmp_path: Path) -> None:
    az = FakeAz(tmp_path / "azbin", tmp_path / "az.jsonl", principal="DB Admins")
    google = GoogleTokenEndpoint(tmp_path / "g.jsonl").start()
    try:
        cli.env.update(az.env(), AZURE_TOKEN_CREDENTIALS="AzureCliCredential", PGIAM_LIBPQ_VERSION="16.2",
                       GOOGLE_APPLICATION_CREDENTIALS=str(service_account_adc(
                           tmp_path / "sa.json", google.token_uri, "app@p.iam.gserviceaccount.com")))
        assert cli("add", "az", "--host", "x.postgres.database.azure.com", "--user", "DB Admins").code == 0
        assert cli("add", "sql", "--kind", "cloudsql", "--host", "10.0.0.5", "--user", "app@p.iam").code == 0
        assert cli("add", "adb", "--kind", "alloydb", "--host", "10.0.0.6", "--user", "app@p.iam").code == 0
        before = (isolated_env / ".pgpass").read_bytes()
        code, sdk, out = probe(cli, "--verbose", "refresh")
        assert code == 0 and out.count(": fresh") == 3, out
        assert sdk == [], f"the no-op refresh imported {sdk}"
        assert (isolated_env / ".pgpass").read_bytes() == before
        code, sdk, out = probe(cli, "status")
        assert code == 0 and sdk == [] and out.count("\tfresh\t") == 3, out
        # and the probe does see the SDK when a token is really fetched
        code, sdk, _ = probe(cli, "refresh", "--force", "sql")
        assert code == 0 and "google.auth" in sdk
    finally:
        google.stop()
