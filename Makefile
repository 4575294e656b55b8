# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Both create and reuse .venv. This project's machines install the local CPU build of torch (pinned here
# only; the library itself accepts current torch releases).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
BASE := $(VENV)/.base-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
TEST_STAMP := $(VENV)/.test-stamp

.PHONY: demo test test-all lint docs bench-engine bench-tta clean

$(BASE):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH)
	touch $(BASE)

# The demo needs the core package only.
$(DEMO_STAMP): pyproject.toml $(BASE)
	$(BIN)/python -m pip install --quiet -e . $(TORCH)
	$(BIN)/python -c "import lessdata.submodular"  # compiles the engine's kernels into numba's on-disk cache
	touch $(DEMO_STAMP)

# The tests exercise every optional integration (Lightning, Ray, Hugging Face, the docs build).
$(TEST_STAMP): pyproject.toml $(BASE)
	$(BIN)/python -m pip install --quiet -e ".[dev,lightning,ray,llm,docs]" $(TORCH)
	$(BIN)/python -c "import lessdata.submodular"  # compiles the engine's kernels into numba's on-disk cache
	touch $(TEST_STAMP) $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/lessdata demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

test-all: $(TEST_STAMP)
	$(BIN)/python -m pytest -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check src tests benchmarks

docs: $(TEST_STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

bench-engine: $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" $(TORCH)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/engine_objectives.py

bench-tta: $(TEST_STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]" $(TORCH)
	$(BIN)/lessdata bench tta --dataset fashion-mnist --model cnn --methods full,random,rs2,craig --fractions 0.1,0.3 --seeds 3

clean:
	rm -rf $(VENV) build dist site src/*.egg-info .pytest_cache
