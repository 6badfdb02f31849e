# `make demo` and `make test` do all the set-up themselves (scripts/setup.sh).
# One target directory outside the clone is reused when it exists, so CI and
# local runs share a warm build.
CARGO_TARGET_DIR ?= $(HOME)/.cache/healthscore-target
export CARGO_TARGET_DIR
BIN := $(CARGO_TARGET_DIR)/release/healthscore

.PHONY: setup build demo test bench clean-demo

setup:
	@scripts/setup.sh > .cmake-path

build: setup
	CMAKE=$$(cat .cmake-path) cargo build --release --locked

demo: build
	$(BIN) demo --config config/healthscore.yaml

test: setup
	CMAKE=$$(cat .cmake-path) cargo test --release --locked

bench: build
	benches/run.sh

clean-demo:
	rm -rf data/demo out models/churn
