"""`make lint` enforces the import rules of the design (pyproject's [tool.importlinter] contracts):
break each rule in a copy of the package and the checker must fail, naming the contract."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

LINT = Path(sys.executable).parent / "lint-imports"


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1", "TERM": "dumb"}
    r = subprocess.run([str(LINT), "--no-cache", "--config", str(root / "pyproject.toml")], cwd=str(root),
                       capture_output=True, text=True, env=env, timeout=120, check=False)
    # (some import-linter versions colour their report whatever the terminal: read it without the codes)
    r.stdout = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout)
    return r


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "pgiam", tmp_path / "pgiam", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_package_keeps_every_contract(copy: Path) -> None:
    r = lint(copy)
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("libpq/pgpass.py", "import subprocess", "Pure parsers and planners do no I/O"),
        ("flow/plan.py", "from pgiam import atomic", "Pure parsers and planners do no I/O"),
        ("flow/lifecycle.py", "import botocore", "Cloud SDKs only inside their cloud's package"),
        ("host/doctor.py", "import pgiam.cli.main", "Nothing imports the command line"),
        ("config/model.py", "from pgiam.flow import state", "The pure libpq and config layers never reach the flow"),
    ],
)
def test_breaking_a_rule_fails_lint(copy: Path, module: str, line: str, contract: str) -> None:
    target = copy / "pgiam" / module
    target.write_text(target.read_text() + f"\n{line}  # noqa\n")
    r = lint(copy)
    assert r.returncode != 0, r.stdout
    assert "1 broken" in r.stdout
    report = r.stdout.split("Broken contracts", 1)[1]
    assert report.lstrip("\n-").startswith(contract), r.stdout
