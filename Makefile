# The README's two commands: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export AGENTOPS_DATA_DIR ?= $(CURDIR)/data
# Dagster's UI has no sign-in: loopback only unless you put a signing-in proxy in front.
DAGSTER_HOST ?= 127.0.0.1

.PHONY: install test lint fmt demo bench dagster dashboard clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,spark]'
	touch $(STAMP)

install: $(STAMP)

# Two workers (the machine's cores), each test file whole on one worker (tests/conftest.py
# orders them). `make test TEST_WORKERS=0` runs in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=25

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

demo: $(STAMP)
	$(PY) -m orchestration.demo

bench: $(STAMP)
	$(PY) -m tests.bench

# The venv's scripts first on PATH: `dagster dev` parses the dbt project with the `dbt` there.
dagster: $(STAMP)
	mkdir -p $(AGENTOPS_DATA_DIR)/dagster
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" DAGSTER_HOME=$(AGENTOPS_DATA_DIR)/dagster \
		$(VENV)/bin/dagster dev -m orchestration.definitions -h $(DAGSTER_HOST)

dashboard: $(STAMP)
	$(VENV)/bin/agentops-wh dashboard

clean:
	rm -rf $(VENV) dbt_project/target dbt_project/logs
