"""`pip install .` installs the man page and the completion scripts (so `man pgiam` works from a venv or
pipx), the build is warning-free (SPDX license), and the shipped completions equal the generated ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, Cli

SHIPPED = {"bash": "completions/bash/pgiam", "zsh": "completions/zsh/_pgiam", "fish": "completions/fish/pgiam.fish"}


@pytest.mark.parametrize("shell", sorted(SHIPPED))
def test_shipped_completions_are_the_generated_ones(cli: Cli, shell: str) -> None:
    r = cli("completion", shell)
    assert r.code == 0 and r.out == (REPO / SHIPPED[shell]).read_text(), f"run `make completion` ({shell})"


@pytest.mark.slow
def test_wheel_installs_man_page_and_completions_into_a_venv(tmp_path: Path) -> None:
    # no PYTHONPATH: a checkout on it (with its egg-info) would look like an installed pgiam to pip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True, text=True, timeout=600, check=False, cwd=str(tmp_path), env=env,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    noise = [ln for ln in (build.stdout + build.stderr).splitlines()
             if ("Warning" in ln or "deprecated" in ln.lower()) and "Location 'file:" not in ln]
    assert not noise, noise
    wheel = next((tmp_path / "dist").glob("pgiam-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("share/man/man1/pgiam.1", "share/bash-completion/completions/pgiam",
                 "share/zsh/site-functions/_pgiam", "share/fish/vendor_completions.d/pgiam.fish"):
        assert any(n.endswith(".data/data/" + want) for n in names), (want, names)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--no-deps", "-q", str(wheel)], capture_output=True, text=True, timeout=300, check=False,
                          env=env, cwd=str(tmp_path))
    assert inst.returncode == 0, inst.stderr
    page = venv / "share" / "man" / "man1" / "pgiam.1"
    assert page.read_bytes() == (REPO / "man" / "pgiam.1").read_bytes()
    for shell, shipped in SHIPPED.items():
        dest = {"bash": "share/bash-completion/completions/pgiam", "zsh": "share/zsh/site-functions/_pgiam",
                "fish": "share/fish/vendor_completions.d/pgiam.fish"}[shell]
        assert (venv / dest).read_bytes() == (REPO / shipped).read_bytes()
    man = shutil.which("man")
    assert man, "man (man-db) is needed"
    found = subprocess.run([man, "-w", "pgiam"], capture_output=True, text=True, timeout=60, check=False,
                           env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert found.stdout.strip() == str(page), found
