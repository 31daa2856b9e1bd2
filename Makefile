# Thin aliases. `make test` and `make demo` set themselves up (venv + packages) on a fresh machine.
PYTHON ?= python3
VENV ?= .venv$(if $(filter python3,$(PYTHON)),,-$(notdir $(PYTHON)))
PY := $(VENV)/bin/python
PREFIX ?= $(HOME)/.local
MANDIR ?= $(PREFIX)/share/man
PYTEST_ARGS ?=
# one pytest worker per core (pytest-xdist); tests that create OS users share one (tests/conftest.py)
PYTEST_PAR ?= -n auto --dist loadgroup

.PHONY: venv venv-base deps deps-demo test lint unit demo bench man install install-data completion clean

venv: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@ $(VENV)/.stamp-base

# what the demo needs: pgiam and its runtime dependencies, no test tools
venv-base: $(VENV)/.stamp-base

$(VENV)/.stamp-base: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

deps:
	@bash scripts/system-deps.sh test

deps-demo:
	@bash scripts/system-deps.sh demo

lint: venv
	$(PY) -m ruff check pgiam tests bench scripts
	$(PY) -m mypy
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml
	@command -v mandoc >/dev/null && mandoc -Tlint -W warning man/pgiam.1 || echo "mandoc not installed: man page lint skipped"

test: deps lint
	$(PY) -m pytest -q $(PYTEST_PAR) $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest -q $(PYTEST_PAR) -m 'not pg and not slow' $(PYTEST_ARGS)

demo: deps-demo venv-base
	$(PY) scripts/demo.py

bench: venv
	$(PY) bench/run.py

man:
	mandoc -Tutf8 man/pgiam.1 | less

# generated from the parser by shtab (the venv has it); committed, so `pip install .` ships them
completion: venv
	$(PY) -m pgiam completion bash > completions/bash/pgiam
	$(PY) -m pgiam completion zsh > completions/zsh/_pgiam
	$(PY) -m pgiam completion fish > completions/fish/pgiam.fish

install:
	$(PYTHON) -m pip install --user . 2>/dev/null || pipx install --force .

# the man page and completions only, for a system prefix (`pip install .` installs them too, under its
# own prefix: share/man/man1, share/bash-completion/completions, share/zsh/site-functions,
# share/fish/vendor_completions.d)
install-data:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	install -m 0644 man/pgiam.1 $(DESTDIR)$(MANDIR)/man1/pgiam.1
	install -m 0644 completions/bash/pgiam $(DESTDIR)$(PREFIX)/share/bash-completion/completions/pgiam
	install -m 0644 completions/zsh/_pgiam $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_pgiam
	install -m 0644 completions/fish/pgiam.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/pgiam.fish

clean:
	rm -rf .venv .venv-* build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
