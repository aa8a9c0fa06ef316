# The commands the README and CI use. `make run` and `make test` work on a fresh machine:
# they create .venv and install what they need first.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
# pip installs are redone only when pyproject.toml changes.
RUNTIME = $(VENV)/.installed-runtime
DEV     = $(VENV)/.installed-dev

.PHONY: run demo test lint fmt bench clean help tools kafka kafka-stop test-kafka

help:
	@echo "make run    set up .venv and run the pipeline on the embedded broker (newsmon run)"
	@echo "make demo   the pipeline on a bundled sample feed, offline, in seconds"
	@echo "make test   set up .venv with dev extras; lint, type-check and run the whole test suite"
	@echo "make lint   ruff + mypy --strict only"
	@echo "make bench  benchmarks (prints figures)"
	@echo "make kafka  start a 3-broker Apache Kafka cluster on loopback (needs Java 17+ and Maven)"
	@echo "make kafka-stop  stop it"
	@echo "make test-kafka  the bus, fault, scale-out and end-to-end suites on that cluster (starts and stops it)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "newsmon needs Python 3.11+")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME)

run: $(RUNTIME)
	$(BIN)/newsmon run

demo: $(RUNTIME)
	$(BIN)/newsmon demo

lint: $(DEV)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench
	$(BIN)/mypy --strict monitor

# The programs the tests run for real (prometheus, promtool): installed here when missing.
tools:
	bash tests/setup/ensure-tools.sh

test: lint tools
	$(BIN)/pytest

fmt: $(DEV)
	$(BIN)/ruff format monitor tests bench
	$(BIN)/ruff check --fix monitor tests bench

# BENCH="--quick" or BENCH="matching ingest": a quick pass or a subset (python -m bench --help).
bench: $(DEV)
	$(BIN)/python -m bench $(BENCH)

# Apache Kafka (deploy/kafka/pom.xml's version, jars fetched by Maven into var/kafka): 3 brokers in
# KRaft mode on 127.0.0.1:19092-19094 (NEWSMON_KAFKA_BASE_PORT moves them), newsmon's topics with
# replication factor 3 and min.insync.replicas 2. Data and logs in var/kafka/cluster.
kafka: $(DEV)
	$(BIN)/python -m tests.kafka_cluster start

kafka-stop: $(DEV)
	$(BIN)/python -m tests.kafka_cluster stop

# The suites that exercise the broker, run again on Apache Kafka (`--broker=kafka`): the same tests; those
# marked `tansu` (the embedded broker's own process) are deselected, those marked `kafka` added.
KAFKA_TESTS = tests/integration/test_bus.py tests/integration/test_faults_bus.py \
	tests/integration/test_faults_broker.py tests/integration/test_faults_kill.py \
	tests/integration/test_faults_shutdown.py tests/integration/test_faults_kafka.py \
	tests/integration/test_observability_lag.py tests/integration/test_pipeline_e2e.py \
	tests/integration/test_run_kafka.py

test-kafka: $(DEV)
	$(MAKE) kafka
	$(BIN)/pytest --broker=kafka $(KAFKA_TESTS) $(PYTEST); rc=$$?; $(MAKE) kafka-stop; exit $$rc

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
