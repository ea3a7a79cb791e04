# Two commands do all set-up on a fresh machine:
#   make demo   - create .venv, install modelyard, run the end-to-end quickstart (no server needed)
#   make test   - the same set-up, then the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.modelyard-installed

.PHONY: install demo test lint bench clean diagrams docs

$(PY):
	$(PYTHON) -m venv $(VENV)

# setup.py and the C source: the editable install compiles the online read's row decoder in place
$(STAMP): pyproject.toml setup.py framework/modelyard/features/online/redis/_redis_rows.c | $(PY)
	@echo "make install: upgrading pip in $(VENV)"
	$(PY) -m pip install --quiet --upgrade pip
	@echo "make install: installing modelyard and its dev extras (Feast, scikit-learn, MLflow, Dask...)"
	@echo "  into $(VENV), and compiling the online-read decoder; a few minutes the first time"
	@$(PY) -m pip install --progress-bar off -e ".[dev]" 2>&1 | tee $(VENV)/install.log \
	  | grep --line-buffered -E '^(Collecting|Building|Successfully|ERROR)' | sed -u 's/^/  /'; \
	  test $${PIPESTATUS[0]} -eq 0 || { echo "make install failed: see $(VENV)/install.log"; exit 1; }
	@# setuptools may leave modelyard.egg-info here; `python -m pytest` puts this directory on sys.path,
	@# where a stale copy would hide the entry points of the installed one (plugins added since)
	rm -rf modelyard.egg-info
	@echo "make install: done"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) demo/quickstart.py

test: install
	$(PY) -m pytest -q

# ruff (rules in pyproject.toml), formatting, mypy on framework/ and plugins/ ([tool.mypy] in
# pyproject.toml), and the layering contracts in .importlinter
lint: install
	$(VENV)/bin/ruff check framework plugins tests bench demo tools
	$(VENV)/bin/ruff format --check framework plugins tests bench demo tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# the SVG of each Mermaid diagram in docs/ (mermaid-cli from npm, driving a local Chromium: $$CHROMIUM)
diagrams:
	$(PYTHON) tools/docs_diagrams.py

# the documentation site, offline: diagrams are the committed SVGs (see tools/docs_diagrams.py)
docs: install
	$(VENV)/bin/mkdocs build -d site

bench: install
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache framework/modelyard/features/online/redis/_redis_rows*.so
