# Thin aliases. `make test` and `make demo` set themselves up (venv + packages) on a fresh machine.
PYTHON ?= python3
VENV ?= .venv$(if $(filter python3,$(PYTHON)),,-$(notdir $(PYTHON)))
PY := $(VENV)/bin/python
PREFIX ?= $(HOME)/.local
MANDIR ?= $(PREFIX)/share/man
PYTEST_ARGS ?=

.PHONY: venv deps test lint unit demo bench man install install-data completion clean

venv: $(VENV)/.stamp

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

deps:
	@bash scripts/system-deps.sh

lint: venv
	$(PY) -m ruff check pgiam tests bench scripts
	$(PY) -m mypy
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml
	@command -v mandoc >/dev/null && mandoc -Tlint -W warning man/pgiam.1 || echo "mandoc not installed: man page lint skipped"

test: deps lint
	$(PY) -m pytest -q $(PYTEST_ARGS)

unit: venv
	$(PY) -m pytest -q -m 'not pg' $(PYTEST_ARGS)

demo: deps venv
	$(PY) scripts/demo.py

bench: venv
	$(PY) bench/run.py

man:
	mandoc -Tutf8 man/pgiam.1 | less

# generated from the parser; needs only the standard library
completion:
	mkdir -p build
	PYTHONPATH=. $(PYTHON) -m pgiam completion bash > build/pgiam.bash
	PYTHONPATH=. $(PYTHON) -m pgiam completion zsh > build/_pgiam

install: install-data
	$(PYTHON) -m pip install --user . 2>/dev/null || pipx install --force .

# the man page and completions only (also what `make install` adds to the Python package)
install-data: completion
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0644 man/pgiam.1 $(DESTDIR)$(MANDIR)/man1/pgiam.1
	install -m 0644 build/pgiam.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/pgiam
	install -m 0644 build/_pgiam $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_pgiam

clean:
	rm -rf .venv .venv-* build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
