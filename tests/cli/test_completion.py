"""Completion scripts are generated from the parser: every verb and option is in them, and they parse."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pgiam.cli.completion import _options, _verbs
from pgiam.cli.main import build_parser
from tests.conftest import Cli


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_script_parses_and_lists_everything(cli: Cli, tmp_path: Path, shell: str) -> None:
    r = cli("completion", shell)
    assert r.code == 0, r.err
    script = tmp_path / f"pgiam.{shell}"
    script.write_text(r.out)
    exe = shutil.which(shell)
    assert exe, f"{shell} is needed for this test (scripts/system-deps.sh installs it)"
    check = subprocess.run([exe, "-n", str(script)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    parser = build_parser()
    for verb, sub in _verbs(parser).items():
        assert verb in r.out
        for opt in _options(sub):
            assert opt in r.out, (verb, opt)


def test_bash_completion_completes_verbs_and_options(cli: Cli, tmp_path: Path) -> None:
    script = tmp_path / "pgiam.bash"
    script.write_text(cli("completion", "bash").out)
    probe = (
        f"source {script}\n"
        "COMP_WORDS=(pgiam ref); COMP_CWORD=1; _pgiam; echo \"${COMPREPLY[*]}\"\n"
        "COMP_WORDS=(pgiam refresh --fo); COMP_CWORD=2; _pgiam; echo \"${COMPREPLY[*]}\"\n"
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["refresh", "--force"]
