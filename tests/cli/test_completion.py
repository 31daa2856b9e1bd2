"""Completion scripts are generated from the parser by shtab, and driven here through the real shells:
bash (COMP_WORDS/COMP_CWORD, the completion function, COMPREPLY), zsh (an interactive zsh in a zpty,
a real Tab, every candidate compadd receives) and fish (`complete -C`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pgiam.config.kinds import NAMES as KIND_NAMES
from tests.conftest import REPO, Cli

HOST = "db1.abc123xyz.us-west-2.rds.amazonaws.com"

# zsh -f capture.zsh FPATH_DIR OUT_FILE LINE: types LINE and a Tab into an interactive zsh (in a zpty), and
# writes every candidate the completion system hands to compadd into OUT_FILE
ZSH_CAPTURE = r"""
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "fpath=(${(q)1} \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "__out=${(q)2}"
zpty -w z 'compadd() { if [[ " $* " == *" -"[OAD]" "* ]]; then builtin compadd "$@"; return; fi; '\
'local -a __m; builtin compadd -A __m "$@"; print -rl -- $__m >> $__out; builtin compadd "$@"; }'
zpty -w z "bindkey '^I' complete-word; print -r -- READY > \$__out.ready"
for i in {1..200}; do [[ -e $2.ready ]] && break; sleep 0.1; done
zpty -w -n z "$3"$'\t'
zpty -w -n z $'\C-u'
zpty -w z "print -r -- done > \$__out.done"
for i in {1..300}; do [[ -e $2.done ]] && break; sleep 0.1; done
zpty -d z
"""


@pytest.fixture
def shells(cli: Cli, tmp_path: Path, isolated_env: Path) -> Path:
    """A `pgiam` on PATH (this checkout), a config with two services, and the three scripts."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "pgiam"
    import sys

    exe.write_text(f'#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m pgiam "$@"\n')
    exe.chmod(0o755)
    cfg = tmp_path / "other.toml"
    cfg.write_text(f'[services.alpha]\nhost = "{HOST}"\nuser = "a"\n[services.beta]\nhost = "{HOST}"\nuser = "b"\n')
    default = isolated_env / ".config" / "pgiam" / "config.toml"
    default.parent.mkdir(parents=True)
    default.write_text(f'[services.home1]\nhost = "{HOST}"\nuser = "a"\n')
    for shell, name in (("bash", "pgiam.bash"), ("zsh", "_pgiam"), ("fish", "pgiam.fish")):
        r = cli("completion", shell)
        assert r.code == 0, r.err
        (tmp_path / name).write_text(r.out)
    cli.env["PATH"] = f"{bindir}:{cli.environ()['PATH']}"
    return tmp_path


def bash_complete(cli: Cli, d: Path, line: str) -> list[str]:
    probe = (
        f"source {d / 'pgiam.bash'}\n"
        'read -ra COMP_WORDS <<< "$LINE"; [[ "$LINE" == *" " ]] && COMP_WORDS+=("")\n'
        "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=$LINE; COMP_POINT=${#LINE}\n"
        "_shtab_pgiam\n"
        "printf '%s\\n' \"${COMPREPLY[@]}\"\n"
    )
    exe = shutil.which("bash")
    assert exe
    p = subprocess.run([exe, "--norc", "-c", probe], capture_output=True, text=True,
                       env=cli.environ({"LINE": line}), timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    return [w for w in p.stdout.splitlines() if w]


def zsh_complete(cli: Cli, d: Path, line: str) -> list[str]:
    exe = shutil.which("zsh")
    assert exe, "zsh is needed (scripts/system-deps.sh test installs it)"
    capture = d / "capture.zsh"
    capture.write_text(ZSH_CAPTURE)
    out = d / "zsh.out"
    for f in (out, Path(f"{out}.ready"), Path(f"{out}.done")):
        f.unlink(missing_ok=True)
    subprocess.run([exe, "-f", str(capture), str(d), str(out), line], env=cli.environ(), timeout=90,
                   check=True, capture_output=True)
    assert Path(f"{out}.done").exists(), "zsh never finished the completion"
    return [w for w in (out.read_text().splitlines() if out.exists() else []) if w]


def fish_complete(cli: Cli, d: Path, line: str) -> list[str]:
    exe = shutil.which("fish")
    assert exe, "fish is needed (scripts/system-deps.sh test installs it)"
    p = subprocess.run([exe, "-N", "-c", f"source {d / 'pgiam.fish'}; complete -C {line!r}"],
                       capture_output=True, text=True, env=cli.environ(), timeout=60, check=False)
    assert p.returncode == 0, p.stderr
    return [ln.split("\t")[0] for ln in p.stdout.splitlines() if ln]


COMPLETERS = {"bash": bash_complete, "zsh": zsh_complete, "fish": fish_complete}


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_through_the_real_shell(cli: Cli, shells: Path, shell: str) -> None:
    complete = COMPLETERS[shell]
    cfg = shells / "other.toml"
    # an option after a valued global option: the config path is not taken for the verb
    assert complete(cli, shells, f"pgiam --config {cfg} refresh --fo") == ["--force"]
    # fixed choices
    assert sorted(complete(cli, shells, "pgiam schedule ")) == ["install", "remove", "show"]
    assert sorted(complete(cli, shells, "pgiam schedule install --backend ")) == ["cron", "launchd", "systemd"]
    assert sorted(complete(cli, shells, "pgiam token --kind ")) == sorted(KIND_NAMES)
    assert sorted(complete(cli, shells, "pgiam add x --sslmode ")) == ["require", "verify-ca", "verify-full"]
    # service names, from the config in use
    assert sorted(complete(cli, shells, f"pgiam --config {cfg} refresh ")) == ["alpha", "beta"]
    assert complete(cli, shells, f"pgiam status --config {cfg} b") == ["beta"]
    assert complete(cli, shells, "pgiam psql ") == ["home1"]
    # verbs
    assert "check-credentials" in complete(cli, shells, "pgiam ch")
    # paths for path options (zsh's _files offers the name within the directory)
    for line in (f"pgiam --config {shells}/oth", f"pgiam add x --sslrootcert {shells}/oth",
                 f"pgiam refresh --pgpass {shells}/oth"):
        got = complete(cli, shells, line)
        assert len(got) == 1 and got[0].endswith("other.toml"), (line, got)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_scripts_are_valid_syntax(shells: Path, shell: str) -> None:
    exe = shutil.which(shell)
    assert exe, f"{shell} is needed (scripts/system-deps.sh test installs it)"
    name = {"bash": "pgiam.bash", "zsh": "_pgiam", "fish": "pgiam.fish"}[shell]
    flag = "--no-execute" if shell == "fish" else "-n"
    p = subprocess.run([exe, flag, str(shells / name)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stderr


def test_hidden_service_lister_is_quiet_on_a_broken_config(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[services.x\n")
    r = cli("__complete-services", "--config", str(bad))
    assert (r.code, r.out, r.err) == (0, "", "")


def test_shtab_is_not_imported_on_the_refresh_path(cli: Cli) -> None:
    import sys

    code = ("import sys; from pgiam.cli.main import main; main(['refresh']); "
            "print('shtab' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli.environ(),
                       timeout=60, check=False)
    assert p.stdout.strip().endswith("False"), p
