"""Shell completion for bash, zsh and fish, generated from the argparse parser by shtab.

shtab is imported only here, and only by `pgiam completion SHELL` (never on the refresh path).
On top of what shtab derives from the parser (verbs, options, fixed choices), NAME arguments complete
to the service names of the config in use (`pgiam __complete-services [--config PATH]`, which reads the
TOML and nothing else) and path options complete to file names.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pgiam.errors import UsageError

SHELLS = ("bash", "zsh", "fish")
HIDDEN_VERB = "__complete-services"

# completion-only choices for options the parser leaves to the config's own validation
_EXTRA_CHOICES = {"sslmode": ("verify-full", "verify-ca", "require")}
_PATH_DESTS = frozenset({"config", "pgpass", "service_file", "sslrootcert", "dest", "source"})
_NAME_DESTS = frozenset({"name", "names"})

_BASH = r"""
# service names of the config in use (--config on the command line, else pgiam's default)
_pgiam_services() {
  local i cfg=()
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "${COMP_WORDS[i]}" in
      --config) cfg=(--config "${COMP_WORDS[i+1]/#\~/$HOME}") ;;
      --config=*) cfg=(--config "${COMP_WORDS[i]#--config=}") ;;
    esac
  done
  compgen -W "$(command pgiam __complete-services "${cfg[@]}" 2>/dev/null)" -- "$1"
}
"""

_ZSH = r"""
# service names of the config in use (--config on the command line, else pgiam's default); the whole
# line ($BUFFER), since _arguments has narrowed $words to the verb's own words
_pgiam_services_zsh() {
  local -a cfg names line
  local i
  line=(${(z)BUFFER})
  for ((i = 1; i < ${#line}; i++)); do
    case "${line[i]}" in
      --config) cfg=(--config "${~line[i+1]}") ;;
      --config=*) cfg=(--config "${line[i]#--config=}") ;;
    esac
  done
  names=(${(f)"$(command pgiam __complete-services $cfg 2>/dev/null)"})
  compadd -a names
}
"""

_FISH = r"""
# service names of the config in use (--config on the command line, else pgiam's default)
function __pgiam_services
    set -l tokens (commandline -opc)
    set -l cfg
    set -l i (contains -i -- --config $tokens)
    if test -n "$i"
        set cfg --config $tokens[(math $i + 1)]
    end
    command pgiam __complete-services $cfg 2>/dev/null
end
"""

SERVICES = {"bash": "_pgiam_services", "zsh": "_pgiam_services_zsh", "fish": "(__pgiam_services)"}
PREAMBLE = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}


def _annotate(parser: argparse.ArgumentParser) -> None:
    """Attach shtab's `complete` hints (service names, files) and completion-only choices, recursively."""
    import shtab

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _annotate(sub)
            continue
        if not action.option_strings and action.dest in _NAME_DESTS:
            action.complete = SERVICES  # type: ignore[attr-defined]
        elif action.dest in _PATH_DESTS and action.option_strings:
            action.complete = shtab.FILE  # type: ignore[attr-defined]
        elif action.dest in _EXTRA_CHOICES and action.choices is None:
            action.choices = _EXTRA_CHOICES[action.dest]


def generate(parser: argparse.ArgumentParser, shell: str) -> str:
    if shell not in SHELLS:
        raise UsageError(f"no completion for shell {shell!r}; use bash, zsh or fish")
    import shtab

    _annotate(parser)
    return str(shtab.complete(parser, shell=shell, preamble=PREAMBLE[shell]))


def service_names(argv: Sequence[str]) -> list[str]:
    """`pgiam __complete-services [--config PATH]`: the service names of the config (and the site
    config), read from the TOML alone; nothing on any error (completion must stay quiet)."""
    from pgiam.config import paths

    config: str | None = None
    it = iter(argv)
    for word in it:
        if word == "--config":
            config = next(it, None)
        elif word.startswith("--config="):
            config = word.split("=", 1)[1]
    platform = paths.current_platform()
    names: dict[str, None] = {}
    site = paths.site_config_path(platform)
    for path in (site, paths.config_path(platform, config)):
        if path is None:
            continue
        names.update(dict.fromkeys(_names_in(path)))
    return list(names)


def _names_in(path: Path) -> list[str]:
    from pgiam.config.model import parse_toml

    try:
        doc = parse_toml(path.read_bytes(), path)
    except Exception:
        return []
    services = doc.get("services")
    return [str(n) for n in services] if isinstance(services, dict) else []


def _options(parser: argparse.ArgumentParser) -> list[str]:
    """The long and short option strings of one parser (for tests and the man page check)."""
    return sorted({s for a in parser._actions for s in a.option_strings if s.startswith("--") or len(s) == 2})


def _verbs(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}
