# `make demo` and `make test` do all the set-up themselves (scripts/setup.sh),
# which fails before anything compiles when a prerequisite cannot be had.
# One target directory outside the clone is reused when it exists, so CI and
# local runs share a warm build; the release and test builds resolve the same
# dependency features, so `make test` after `make demo` compiles only our crate.
CARGO_TARGET_DIR ?= $(HOME)/.cache/healthscore-target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/release/healthscore
# What setup found or installed: CMAKE=… HEALTHSCORE_PYTHON=…
SETUP_ENV = env $$(cat .setup.env)

.PHONY: setup setup-test build demo test bench bench-scale bench-where clean-demo

setup:
	@scripts/setup.sh > .setup.env.tmp && mv .setup.env.tmp .setup.env

# the tests also open the report in a real browser, and run the example
# DAG in Airflow and the example project in dbt
setup-test:
	@scripts/setup.sh --browser --stack > .setup.env.tmp && mv .setup.env.tmp .setup.env

build: setup
	$(SETUP_ENV) cargo build --release --locked

demo: build
	$(BIN) demo --config config/healthscore.yaml

test: setup-test
	$(SETUP_ENV) cargo test --release --locked

bench: build
	$(SETUP_ENV) benches/run.sh

# time and peak RSS per stage at 10k, 100k and 300k accounts (BENCH_SIZES=…)
bench-scale: build
	$(SETUP_ENV) benches/scale.sh

# features from local disk, from a local S3 server and on a one-machine Ballista cluster
bench-where: build
	$(SETUP_ENV) benches/where.sh

clean-demo:
	rm -rf data/demo out models/churn
