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
    assert "-F _shtab_pgiam pgiam" in (tmp_path / "usr/local/share/bash-completion/completions/pgiam").read_text()
    assert (tmp_path / "usr/local/share/zsh/site-functions/_pgiam").read_text().startswith("#compdef pgiam")


def _rendered(fmt: str) -> str:
    mandoc = shutil.which("mandoc")
    assert mandoc, "mandoc is needed (scripts/system-deps.sh test installs it)"
    r = subprocess.run([mandoc, f"-T{fmt}", str(MAN)], capture_output=True, text=True, check=True,
                       env={"LC_ALL": "C.UTF-8", "MANWIDTH": "100"})
    return re.sub(r".\x08", "", r.stdout)  # drop overstrike (bold/underline)


def test_synopsis_names_every_verb() -> None:
    text = MAN.read_text()
    synopsis = text[text.index(".Sh SYNOPSIS"):text.index(".Sh DESCRIPTION")]
    for verb in _verbs(build_parser()):
        assert re.search(rf"^\.Cm {re.escape(verb)}\b", synopsis, re.M), f"SYNOPSIS does not name {verb}"


def test_header_and_footer_name_pgiam_and_its_version_not_bsd() -> None:
    from pgiam import __version__

    page = _rendered("utf8")
    lines = [ln for ln in page.splitlines() if ln.strip()]
    assert "BSD" not in lines[0] and "BSD" not in lines[-1], (lines[0], lines[-1])
    assert lines[-1].startswith(f"pgiam {__version__}") and lines[-1].endswith(f"pgiam {__version__}")


def test_rendered_page_has_no_nested_quotes() -> None:
    """mandoc -Tlint is silent about `.Pq Ql a , Ql b , c`, which renders as (‘a, ‘b, c’’)."""
    for fmt, (open_q, close_q) in (("utf8", ("‘", "’")), ("ascii", ("`", "'"))):
        page = _rendered(fmt)
        for no, line in enumerate(page.splitlines(), 1):
            depth = 0
            for ch in line:
                if ch == open_q:
                    depth += 1
                    assert depth == 1, f"-T{fmt} line {no}: nested quotes: {line.strip()}"
                elif ch == close_q and depth:
                    depth -= 1
    assert "(‘300s’ or ‘5m’; default 5m)" in " ".join(_rendered("utf8").split())
