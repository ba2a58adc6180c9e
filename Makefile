# Everything a fresh Debian machine needs, as root: `make demo` or `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH_PIN ?= torch==2.13.0
FMNIST_DIR := /usr/share/datasets/fashion-mnist
# Real CIFAR-10 (a JPEG copy) and ImageNet images lent to this project's machines; users download their own.
SHARED ?= ../shared
CIFAR_ARCHIVE := $(SHARED)/data/cifar10-jpeg.tar.gz
IMAGENET_SAMPLE := $(SHARED)/data/imagenet-sample
OUTSIDE_MODELS := $(SHARED)/models/cifar10
CACHE := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/lisq

.PHONY: demo test setup data lint clean

demo: setup data
	$(VENV)/bin/lisq demo

# LISQ_SHARED: where the real files lent to this project are, for the tests that read them when present
test: setup data
	LISQ_SHARED=$(abspath $(SHARED)) $(PY) -m pytest

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH_PIN)"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Real Fashion-MNIST from Debian, unless it is already there or LISQ_DATA points elsewhere; the CIFAR-10
# copy unpacked into the user cache, the ImageNet sample linked as its val folder and the two published
# CIFAR-10 checkpoints copied where `lisq zoo import` looks, when they are at hand (users download their own).
data:
	@if [ -z "$$LISQ_DATA" ] && [ ! -f $(FMNIST_DIR)/t10k-images-idx3-ubyte.gz ]; then \
		echo "installing dataset-fashion-mnist (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi
	@if [ -f $(CIFAR_ARCHIVE) ] && [ ! -d $(CACHE)/cifar10/test ]; then \
		echo "unpacking $(CIFAR_ARCHIVE) into $(CACHE)/cifar10"; \
		mkdir -p $(CACHE)/cifar10.part && tar -xzf $(CIFAR_ARCHIVE) -C $(CACHE)/cifar10.part && \
		rm -rf $(CACHE)/cifar10/train $(CACHE)/cifar10/test && mkdir -p $(CACHE)/cifar10 && \
		mv $(CACHE)/cifar10.part/train $(CACHE)/cifar10.part/test $(CACHE)/cifar10/ && rm -rf $(CACHE)/cifar10.part; \
	fi
	@if [ -d $(IMAGENET_SAMPLE) ] && [ ! -e $(CACHE)/imagenet/val ]; then \
		echo "linking $(IMAGENET_SAMPLE) as $(CACHE)/imagenet/val"; \
		mkdir -p $(CACHE)/imagenet && ln -s $(abspath $(IMAGENET_SAMPLE)) $(CACHE)/imagenet/val; \
	fi
	@if [ -d $(OUTSIDE_MODELS) ] && [ ! -d $(CACHE)/models/cifar10 ]; then \
		echo "copying the published CIFAR-10 checkpoints from $(OUTSIDE_MODELS) into $(CACHE)/models/cifar10"; \
		mkdir -p $(CACHE)/models/cifar10 && cp $(OUTSIDE_MODELS)/*.th $(CACHE)/models/cifar10/; \
	fi

lint: setup
	$(VENV)/bin/ruff check src tests

clean:
	rm -rf $(VENV) build src/*.egg-info
