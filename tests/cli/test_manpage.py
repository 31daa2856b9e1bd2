"""man/pgiam.1 stays true to the CLI: every command and option is documented, and mandoc is happy."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from pgiam.cli.completion import _options, _verbs
from pgiam.cli.main import build_parser
from tests.conftest import REPO

MAN = REPO / "man" / "pgiam.1"


def _documented_options(text: str) -> set[str]:
    found = set()
    for m in re.finditer(r"\bFl (-?[A-Za-z][-A-Za-z]*)", text):
        found.add("-" + m.group(1))
    return found


def test_every_command_and_option_is_in_the_man_page() -> None:
    text = MAN.read_text()
    documented = _documented_options(text)
    parser = build_parser()
    missing = [o for o in _options(parser) if o not in documented]
    for verb, sub in _verbs(parser).items():
        assert re.search(rf"\bCm {re.escape(verb)}\b", text), f"command {verb} is not in man/pgiam.1"
        missing += [f"{verb} {o}" for o in _options(sub) if o not in documented]
    assert not missing, f"options missing from man/pgiam.1: {missing}"


def test_man_page_lints_clean() -> None:
    mandoc = shutil.which("mandoc")
    assert mandoc, "mandoc is needed (scripts/system-deps.sh installs it)"
    r = subprocess.run([mandoc, "-Tlint", "-W", "warning", str(MAN)], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout == "" and r.stderr == "", r.stdout + r.stderr


def test_make_install_data_installs_man_page_and_completions(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make
    r = subprocess.run(
        [make, "-C", str(REPO), "install-data", f"DESTDIR={tmp_path}", "PREFIX=/usr/local",
         f"PYTHON={sys.executable}"],
        capture_output=True, text=True, check=False,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "usr/local/share/man/man1/pgiam.1").read_bytes() == MAN.read_bytes()
    assert "complete -F _pgiam pgiam" in (tmp_path / "usr/local/share/bash-completion/completions/pgiam").read_text()
    assert (tmp_path / "usr/local/share/zsh/site-functions/_pgiam").read_text().startswith("#compdef pgiam")
