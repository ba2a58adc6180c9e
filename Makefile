# Everything a fresh Debian machine needs, as root: `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
FMNIST_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test setup data lint clean

demo: setup data
	$(VENV)/bin/lisq demo

test: setup data
	$(PY) -m pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Real Fashion-MNIST from Debian, unless it is already there or LISQ_DATA points elsewhere.
data:
	@if [ -z "$$LISQ_DATA" ] && [ ! -f $(FMNIST_DIR)/t10k-images-idx3-ubyte.gz ]; then \
		echo "installing dataset-fashion-mnist (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

lint: setup
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) build src/*.egg-info
