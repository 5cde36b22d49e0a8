# sagaworks: every command a user types. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Tansu is built once into a cache outside the clone (15-20 minutes on 2 cores) and reused.
TOOLS_DIR ?= $(HOME)/.cache/sagaworks/tools
export TANSU_BIN := $(TOOLS_DIR)/bin/tansu
# The native stack runs release builds: it is what `make loadtest` measures.
STACK := target/release/stack

# `make up` uses docker compose where a Docker engine answers, otherwise the native stack.
DOCKER := $(shell docker info >/dev/null 2>&1 && [ -f docker-compose.yml ] && echo yes)

.PHONY: help tools build up down status ps logs demo loadtest chaos bench test

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

tools: ## Install what is missing: PostgreSQL server binaries (apt) and the Tansu broker (cargo).
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || [ -n "$$PG_BIN_DIR" ]; then \
		echo "==> PostgreSQL server binaries: found"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "==> installing PostgreSQL server binaries (Debian package postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "PostgreSQL server binaries are missing and apt-get is not available: install PostgreSQL or set PG_BIN_DIR."; exit 1; \
	fi
	@if [ -x "$(TANSU_BIN)" ]; then \
		echo "==> Tansu broker: $(TANSU_BIN)"; \
	else \
		echo "==> installing the Tansu broker into $(TOOLS_DIR) (once; 15-20 minutes on 2 cores)"; \
		cargo install --locked --quiet tansu --features dynostore,libsql --root "$(TOOLS_DIR)"; \
	fi

build: ## Build every binary (release, as the native stack runs them).
	cargo build --release --workspace --bins

up: ## Start the whole system, detached, and print its endpoints (also in .stack/env).
ifeq ($(DOCKER),yes)
	docker compose up -d --build
else
	@$(MAKE) --no-print-directory tools build
	@$(STACK) up
endif

down: ## Stop what `make up` started; `make down CLEAN=1` also deletes its data.
ifeq ($(DOCKER),yes)
	docker compose down $(if $(CLEAN),--volumes)
else
	@if [ -x $(STACK) ]; then $(STACK) down $(if $(CLEAN),--clean); else echo "nothing to stop"; fi
endif

status: ## Show what is running (same as `make ps`).
ifeq ($(DOCKER),yes)
	docker compose ps
else
	@$(STACK) status
endif

ps: status ## Show what is running.

logs: ## Follow the logs of every part.
ifeq ($(DOCKER),yes)
	docker compose logs -f
else
	tail -F .stack/logs/*.log
endif

demo: ## On a running system: one order down each saga path, then a table of outcomes.
	@cargo build --quiet -p loadtest --bin demo
	@set -a; [ -f .stack/env ] && . ./.stack/env; set +a; target/debug/demo

loadtest: ## On a running system: open-model load (RATE=50 orders/s, DURATION=60 s), report and plot.
	@cargo build --quiet --release -p loadtest --bin loadtest
	@set -a; [ -f .stack/env ] && . ./.stack/env; set +a; target/release/loadtest \
		$(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION))

chaos: ## On a running system: every failure scenario under load, then the invariant audit (SCENARIO=name for one).
	@cargo build --quiet --release -p chaos -p stack --bins
	@set -a; [ -f .stack/env ] && . ./.stack/env; set +a; target/release/chaos run \
		$(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(DOCKER),--compose)

bench: tools build ## Benchmarks -> target/bench/: relay throughput, then the saga under load on a stack of its own (BENCH=relay|saga for one).
	@if [ "$(BENCH)" != saga ]; then cargo bench -p messaging --bench relay; fi
	@if [ "$(BENCH)" != relay ]; then cargo bench -p loadtest --bench saga; fi

test: tools ## Every check CI runs: format, clippy -D warnings, compose validation, all tests.
	@command -v docker-compose >/dev/null 2>&1 || { echo "==> installing docker-compose (Debian package) to validate docker-compose.yml"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	docker-compose config -q
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	cargo test --workspace --all-features
