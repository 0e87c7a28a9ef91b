# Two entry points for a fresh machine: `make demo` (the main job) and `make test`;
# `make check` runs the linters and the type checker (CONTRIBUTING.md); `make docs` builds the site.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test check docs venv clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[all]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m hamux_graph.demo

test: venv
	$(PY) -m pytest -q

# the checks CI runs before the tests: lint, format and types (the tools the `check` extra pins)
check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/basedpyright

# the documentation site into site/ (open site/index.html, or serve it: python -m http.server -d site);
# --strict: a warning (a broken link, a docstring that does not parse) fails the build
docs: venv
	$(VENV)/bin/mkdocs build --strict

clean:
	rm -rf $(VENV) build site *.egg-info
