# Set-up and the two entry points of the README: `make demo` (main job) and `make test`.
# Both create .venv and install what is missing (Python packages pinned in requirements.lock, the
# Debian tools the command-line codecs use) on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rdpbench-installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-tools demo test benchmark mutation wheel docs clean

setup: $(STAMP) system-tools

$(STAMP): pyproject.toml requirements.lock requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# cjxl/djxl for the jxl codec card, butteraugli_main for the butteraugli metric card, chromium to check the report page in a real browser, chromium-driver
# for the study web app's browser test (Selenium), slurm-wlm and munge for the real-Slurm tests (a
# single-node Slurm that tests/slurm_node.py starts as root). Without apt (no root, no network) the jxl
# codec is reported as missing and those tests skip.
APT_PACKAGES := $(if $(shell command -v cjxl),,libjxl-tools) $(if $(shell command -v butteraugli_main),,libjxl-devtools) $(if $(shell command -v chromium),,chromium) \
	$(if $(shell command -v chromedriver),,chromium-driver) $(if $(shell command -v slurmctld),,slurm-wlm munge)
system-tools:
	@[ -z "$(strip $(APT_PACKAGES))" ] || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(APT_PACKAGES) >/dev/null; } || \
		echo "warning: could not install $(APT_PACKAGES); dependent codecs and tests will be skipped"

# The demo ends with a rendered report; exit code 1 of `run` (some tasks have error rows) still gets one.
DEMO_REPORT := $(BIN)/rdpbench report results/demo --anchor jpeg --out reports/demo
demo: setup
	$(BIN)/rdpbench datasets fetch skimage-photos
	$(BIN)/rdpbench run benchmark/configs/demo.toml || [ $$? -eq 1 ]
	$(DEMO_REPORT)
	@echo "Open the report: xdg-open reports/demo/index.html (or any browser; figures: reports/demo/overview.png)"
	@echo "Regenerate it:   $(DEMO_REPORT)"

test: setup
	$(BIN)/python -m pytest -q

benchmark: setup
	$(BIN)/python benchmark/bench_vs_compressai.py

# Mutation testing of the numeric core (not part of CI; about 20-30 min on 2 cores). Prints
# `mutation score: K/N killed`; see benchmark/mutation.py and benchmark/MUTATION.md.
mutation: setup
	$(BIN)/python benchmark/mutation.py

# The documentation site (benchmark/site/): benchmark/docs/ and an API reference from the docstrings;
# warnings are errors (tests/test_docs.py runs the same build).
docs: setup
	$(BIN)/mkdocs build --strict -f benchmark/mkdocs.yml

# The wheel and the sdist (dist/), with codecs/, datasets/ and benchmark/configs/ inside (benchmark/build_support.py).
wheel: setup
	$(BIN)/python -c "from setuptools import build_meta as b; b.build_sdist('dist'); b.build_wheel('dist')"

clean:
	rm -rf $(VENV) .mutation build dist benchmark/site
