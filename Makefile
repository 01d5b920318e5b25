# The two commands a new user needs:  `make demo` (everything up + a real job end to end)
# and `make test` (every test suite). The rest are the steps they are made of.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
LIBS := libs/contracts libs/common-py $(wildcard libs/vision-common) $(wildcard libs/matching)
REQS := requirements-dev.txt constraints.txt $(wildcard libs/*/requirements.txt) $(wildcard services/*/requirements.txt)

# Variables given on the command line (`make up LOCAL_DATASET_DIR=...`) reach the commands below
# through the environment by themselves; exporting them here would export them empty when unset.

DEMO_DIR ?= data/demo-dataset

.PHONY: help install up infra-up down status migrate test demo chaos clean-data

help:
	@echo "make demo          install, bring everything up, run a real job on a generated demo dataset"
	@echo "make test          run every test suite (real RabbitMQ, real Postgres+pgvector)"
	@echo "make chaos         break a stack of its own every way an operator meets; table + JSON of what was lost"
	@echo "make up            infrastructure + migrations + every service (LOCAL_DATASET_DIR=..., REPLICAS=svc=n,...)"
	@echo "make down          stop what make up started, and nothing else"
	@echo "make status        what runs, where"
	@echo "make install       virtualenv with pinned requirements (torch==2.13.0 CPU first)"

install: $(STAMP)

$(STAMP): $(REQS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --disable-pip-version-check -q --upgrade "pip>=24"
	# torch first and by exact spec: this takes the local CPU wheel (any other spec pulls CUDA)
	$(PIP) install --disable-pip-version-check -q torch==2.13.0
	$(PIP) install --disable-pip-version-check -q -r requirements-dev.txt -c constraints.txt
	$(PIP) install --disable-pip-version-check -q --no-deps $(addprefix -e ,$(LIBS))
	@if [ -f scripts/fetch_models.py ]; then $(PY) scripts/fetch_models.py; fi
	touch $(STAMP)

up: install
	$(PY) -m common_py.devstack up

infra-up: install
	$(PY) -m common_py.devstack up --infra-only

down:
	@if [ -x $(PY) ]; then $(PY) -m common_py.devstack down; else echo "nothing to stop (not installed)"; fi

status: install
	$(PY) -m common_py.devstack status

migrate: install
	$(PY) -m common_py.devstack migrate

test: install
	PYTHON=$(PY) bash scripts/run_tests.sh

# Fault injection (docs/reliability.md): a stack of its own on the demo dataset, every service
# killed mid-job, duplicated events, broker and Postgres restarts, bad input, 20 jobs, a full disk.
chaos: install
	$(PY) scripts/chaos.py $(CHAOS_ARGS)

# A real job end to end on a dataset the code generates (nothing downloaded): products and clips
# with near-identical sibling variants, through every service, then results vs the truth.
demo: install
	$(PY) scripts/make_demo_dataset.py $(DEMO_DIR)
	LOCAL_DATASET_DIR=$(CURDIR)/$(DEMO_DIR) $(PY) -m common_py.devstack up
	$(PY) scripts/demo.py --dataset $(DEMO_DIR) --industry breakfast

clean-data: down
	rm -rf data/*
	touch data/.gitkeep
