# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create and reuse .venv; torch is pinned to the local CPU build (2.13.0).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TORCH := torch==2.13.0

.PHONY: demo test test-all lint bench-engine bench-tta clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev,lightning,ray,llm]" $(TORCH)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/lessdata demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks

bench-engine: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" $(TORCH)
	$(BIN)/python benchmarks/engine.py

bench-tta: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" $(TORCH)
	$(BIN)/lessdata bench tta --dataset fashion-mnist --model cnn --methods full,random,rs2,craig --fractions 0.1,0.3 --seeds 3

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache
