# The two commands a newcomer needs: `make run` and `make test`. Everything else is a helper.
SHELL := /bin/bash
export VODFLOW_CACHE ?= $(HOME)/.cache/vodflow
# Outside the clone, so a fresh clone on a warm machine does not rebuild from scratch.
export CARGO_TARGET_DIR ?= $(VODFLOW_CACHE)/target
VODFLOW := $(CARGO_TARGET_DIR)/debug/vodflow

.PHONY: run test stack-up stack-down stack-status build migrate lint bench clean-data

run: stack-up build migrate
	@scripts/banner
	$(VODFLOW) dev

# Lint first: a formatting slip or a clippy warning fails in a minute, not after the suite.
test: stack-up lint
	cargo build --workspace --all-targets
	cargo test --workspace --no-fail-fast -- --test-threads=4
	scripts/schemathesis

stack-up:
	scripts/stack up

stack-down:
	scripts/stack down

stack-status:
	scripts/stack status

build:
	cargo build --workspace

migrate: build
	$(VODFLOW) migrate

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

bench: stack-up
	scripts/install bench
	cargo build --release --workspace --bins
	cargo build --release --workspace --examples
	scripts/bench

clean-data: stack-down
	rm -rf .vodflow
