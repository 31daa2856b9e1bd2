"""README statements that the code decides, checked against the code (issue 12, item 9)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import REPO

README = (REPO / "README.md").read_text()


def _block_after(heading: str, lang: str) -> str:
    start = README.index(heading)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(README, start)
    assert m, heading
    return m.group(1)


def test_quick_start_installs_the_ca_bundle_before_add() -> None:
    quick = _block_after("## Quick start", "sh")
    assert "pgiam ca install" in quick
    assert quick.index("pgiam ca install") < quick.index("pgiam add")


def test_user_switch_lists_exactly_the_variables_that_survive() -> None:
    from pgiam.host.privileges import _KEEP

    bullet = README[README.index("**Root acting for a user:**"):]
    bullet = bullet[: bullet.index("\n- ")]
    named = set(re.findall(r"`([A-Z0-9_]+)`", bullet))
    assert set(_KEEP) <= named, set(_KEEP) - named
    assert "none of root's `AWS_*`" not in README  # AWS_REGION & co. do survive, on purpose


def test_schedule_lists_exactly_what_the_job_carries() -> None:
    from pgiam.host.schedule import CARRIED

    part = README[README.index("Settings of your shell that the job needs"):]
    part = part[: part.index("never credentials")]
    assert set(re.findall(r"`([A-Z0-9_]+)`", part)) == {*CARRIED, "HOME"}
    assert "nothing is left behind" not in README


def test_env_says_pgpassword_overrides_pgpass_and_how_to_undo_it() -> None:
    quick = _block_after("`add` saves the service", "sh")
    assert "overrides every pgpass entry" in quick and "unset PGPASSWORD" in quick


def test_other_engines_example_is_valid(tmp_path: Path) -> None:
    """The TOML of "Other engines" loads, and the Redshift Serverless workgroup it implies passes the
    Redshift Serverless API's own parameter validation (botocore's model, offline)."""
    import botocore.session
    from botocore.validate import ParamValidator

    from pgiam.aws import redshift
    from pgiam.config.model import load

    cfg = tmp_path / "c.toml"
    cfg.write_text(_block_after("### Other engines", "toml"))
    services = load(cfg).services
    svc = services["serverless"]
    model = botocore.session.get_session().get_service_model("redshift-serverless")
    shape = model.operation_model("GetCredentials").input_shape
    report = ParamValidator().validate({"workgroupName": redshift.workgroup(svc)}, shape)
    assert not report.has_errors(), report.generate_report()
