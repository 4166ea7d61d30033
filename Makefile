# sxhub: the two commands a fresh machine needs are `make demo` (the whole pipeline on the embedded defaults) and
# `make test` (the test suite). Each builds what it needs first; nothing is downloaded from the Hugging Face Hub.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch is pinned: 2.13.0 is the CPU wheel; other specs may pull a multi-GB CUDA build.
TORCH := torch==2.13.0
THREADS ?= 2
DEMO_OUT ?= out/demo

.PHONY: venv demo demo-tuned test test-fast lint typecheck wheel bench autotrain-env chromium clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml scripts/llama-wheel.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the embedded teacher: llama.cpp compiled once per machine (portable CPU flags) into a wheelhouse
	bash scripts/llama-wheel.sh $(PY)
	$(PY) -m pip install "$(TORCH)" -e ".[all,dev]"
	touch $@

## the whole pipeline on the embedded defaults: local llama.cpp teacher (SmolLM2-135M), MiniLM student
## (--exist-ok: the demo owns $(DEMO_OUT), so running it again rewrites its repo folders instead of refusing)
demo: venv
	OMP_NUM_THREADS=$(THREADS) $(VENV)/bin/sxhub run examples/financial-sentiment/task.yaml \
		examples/financial-sentiment/texts.csv --gold expert --out $(DEMO_OUT) --exist-ok
	@echo "Report: $(DEMO_OUT)/report.md"

## the synthetic model end to end: tune the embedded SmolLM2-135M on 300 expert-labelled PhraseBank sentences (read
## where they are, never copied), write 50 texts with it, then the whole pipeline with it as the teacher; the tune
## summary and the card give its held-out accuracy, the run report its accuracy against the experts' labels
FPB ?= ../shared/data/financial_phrasebank/sentences_allagree.csv
TUNED_OUT ?= out/demo-tuned
demo-tuned: venv
	@test -f $(FPB) || { echo "demo-tuned needs Financial PhraseBank: set FPB=path/to/sentences_allagree.csv"; exit 2; }
	OMP_NUM_THREADS=$(THREADS) $(VENV)/bin/sxhub tune examples/financial-sentiment/task.yaml $(FPB) \
		--max-train 300 --holdout 100 -o $(TUNED_OUT)/synthetic-model
	OMP_NUM_THREADS=$(THREADS) $(VENV)/bin/sxhub generate examples/financial-sentiment/task.yaml --n 50 \
		--writer $(TUNED_OUT)/synthetic-model --teacher $(TUNED_OUT)/synthetic-model --vote scores -o $(TUNED_OUT)/generated.csv
	OMP_NUM_THREADS=$(THREADS) $(VENV)/bin/sxhub run examples/financial-sentiment/task.yaml \
		examples/financial-sentiment/texts.csv --gold expert --teacher $(TUNED_OUT)/synthetic-model --vote scores \
		--out $(TUNED_OUT)/run
	@echo "Synthetic model: $(TUNED_OUT)/synthetic-model (README.md); generated: $(TUNED_OUT)/generated.csv; report: $(TUNED_OUT)/run/report.md"

## the full test suite (unit + integration: llama.cpp teacher, Hub stand-in, Gradio, Chromium, AutoTrain)
test: venv autotrain-env chromium
	OMP_NUM_THREADS=1 $(PY) -m pytest tests

## the tests not marked slow (about 10 minutes on 2 cores; `make test` about 20)
test-fast: venv
	OMP_NUM_THREADS=1 $(PY) -m pytest tests -m "not slow"

lint: venv
	$(VENV)/bin/ruff check sxhub tests bench spaces
	$(VENV)/bin/ruff format --check sxhub tests bench spaces

typecheck: venv
	$(VENV)/bin/mypy

## the sdist, then the wheel built from it (carries the cards, the Space and the examples: see setup.py)
wheel: venv
	$(PY) -m build --no-isolation --outdir dist .

bench: venv
	$(PY) bench/annotate.py
	$(PY) bench/student.py
	$(PY) bench/soft_labels.py
	$(PY) bench/synth.py
	$(PY) bench/insights.py
	$(PY) bench/tune.py

## AutoTrain lives in its own venv (it pins transformers 4.48 / datasets 3.2)
autotrain-env:
	bash scripts/autotrain-env.sh

## Debian's chromium and chromedriver for the browser tests (skipped when they cannot be installed; CI=true fails)
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { (apt-get update -qq && \
		apt-get install -y -qq chromium chromium-driver >/dev/null) \
		|| echo "chromium could not be installed: the browser tests will be skipped"; }

clean:
	rm -rf $(VENV) .venv-autotrain out build dist *.egg-info
