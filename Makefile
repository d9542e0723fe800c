# fargate-ml — `make help` lists the targets. Quick start: `make demo`, `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STATE := .state
VENV_STAMP := $(VENV)/.installed

# Terraform: TF_PROVIDER_MIRROR names a filesystem mirror of the providers (offline machines);
# unset, `terraform init` uses the registry. Providers are linked from a plugin cache.
TF_PROVIDER_MIRROR ?=
TF_PLUGIN_CACHE ?= $(abspath $(STATE)/tf-plugin-cache)
TFRC := $(abspath $(STATE)/terraform.rc)
export TF_CLI_CONFIG_FILE := $(TFRC)
export TF_IN_AUTOMATION := 1
TF_LOCAL := terraform/envs/local
TF_LOCAL_STATE := $(abspath $(STATE)/terraform/local.tfstate)
TF_DIRS := $(sort $(dir $(wildcard terraform/modules/*/main.tf terraform/envs/*/main.tf)))

LAMBDA_ZIP := $(abspath $(STATE)/build/enqueue.zip)
LOCAL_ENV := $(STATE)/local.env
EMULATOR_ENV := $(STATE)/emulator.env
# Local processes aim at the emulator through localstack-client (LOCALSTACK_HOST / AWS_ENDPOINT_URL),
# over HTTPS unless USE_SSL=0; the emulator enforces IAM (docs/aws.md, "What the local stack proves").
export LOCALSTACK_HOST ?= 127.0.0.1:4566
export USE_SSL ?= 1
export AWS_REGION ?= us-east-1
export PYTHONDONTWRITEBYTECODE := 1
WITH_STACK_ENV := set -a && . $(LOCAL_ENV) && set +a &&
PYTEST_ARGS ?=

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------------------- environment
$(VENV_STAMP): requirements.txt requirements-dev.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

.PHONY: venv
venv: $(VENV_STAMP) ## Create the virtualenv (rebuilt only when requirements change)

$(LAMBDA_ZIP): $(wildcard src/lambdas/*.py src/fmlcore/*.py src/fmlcore/core/*.py src/fmlcore/jobs/*.py) scripts/build_lambda.py | $(VENV_STAMP)
	$(PY) scripts/build_lambda.py src $@

.PHONY: lambda-zip
lambda-zip: $(LAMBDA_ZIP) ## Build the enqueue Lambda's zip (reproducible)

.PHONY: tf-config
tf-config:
	@mkdir -p $(STATE) $(TF_PLUGIN_CACHE)
	@{ if [ -n "$(TF_PROVIDER_MIRROR)" ]; then \
	  printf 'provider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' "$(TF_PROVIDER_MIRROR)"; \
	fi; \
	printf 'plugin_cache_dir = "%s"\nplugin_cache_may_break_dependency_lock_file = true\n' "$(TF_PLUGIN_CACHE)"; \
	} > $(TFRC)

# ---------------------------------------------------------------------------- local emulator
.PHONY: localstack-up
localstack-up: venv lambda-zip tf-config ## Start MiniStack (IAM enforced, HTTPS) on 127.0.0.1:4566 and apply terraform/envs/local
	@# A freshly started emulator is empty: any Terraform state left from an earlier one is stale.
	@if ! $(PY) scripts/emulator.py status --state $(STATE) >/dev/null 2>&1; then \
	  rm -f $(TF_LOCAL_STATE) $(TF_LOCAL_STATE).backup; \
	fi
	@$(PY) scripts/emulator.py up --state $(STATE)
	@mkdir -p $(dir $(TF_LOCAL_STATE))
	terraform -chdir=$(TF_LOCAL) init -input=false -reconfigure -backend-config=path=$(TF_LOCAL_STATE) >/dev/null
	set -a && . $(EMULATOR_ENV) && set +a && AWS_ENDPOINT_URL=$$($(PY) -m fmlcore.core.aws) \
	  terraform -chdir=$(TF_LOCAL) apply -input=false -auto-approve -var lambda_zip_path=$(LAMBDA_ZIP) >$(STATE)/terraform-apply.log \
	  || { tail -40 $(STATE)/terraform-apply.log; exit 1; }
	@terraform -chdir=$(TF_LOCAL) output -json > $(STATE)/outputs.json
	@{ $(PY) -m fmldev.stack $(STATE)/outputs.json && cat $(EMULATOR_ENV); } > $(LOCAL_ENV)
	@$(PY) -m fmldev.stack --aws-config $(STATE)/outputs.json $(EMULATOR_ENV) > $(STATE)/aws-config
	@echo "local stack ready: $$(grep -c . $(LOCAL_ENV)) settings in $(LOCAL_ENV); user profile in $(STATE)/aws-config"

.PHONY: localstack-down
localstack-down: stop ## Stop the emulator this project started and forget its Terraform state
	@test -x $(PY) && $(PY) scripts/emulator.py down --state $(STATE) || true
	@rm -f $(TF_LOCAL_STATE) $(TF_LOCAL_STATE).backup $(STATE)/outputs.json $(LOCAL_ENV) $(EMULATOR_ENV) $(STATE)/aws-config

.PHONY: localstack-status
localstack-status: venv ## Say whether the emulator answers, and what the stack provides
	@$(PY) scripts/emulator.py status --state $(STATE)
	@if [ -f $(LOCAL_ENV) ]; then cat $(LOCAL_ENV); else echo "stack not applied (make localstack-up)"; fi

# ---------------------------------------------------------------------------- quality
.PHONY: lint
lint: venv ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: fmt
fmt: venv ## Format Python and Terraform in place
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	terraform fmt -recursive terraform

TOOLS_VENV := $(STATE)/tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
$(TOOLS_STAMP): requirements-tools.txt
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-tools.txt
	@touch $@

.PHONY: checkov
checkov: $(TOOLS_STAMP) ## checkov over terraform/ (zero failed; every skip carries its reason beside the resource)
	$(TOOLS_VENV)/bin/checkov -d terraform --framework terraform --quiet --compact --skip-download

.PHONY: tf-wiring
tf-wiring: venv ## python-hcl2 checks: module arguments, required variables, referenced outputs, types/descriptions
	$(BIN)/pytest -q tests/terraform

.PHONY: tf-fmt
tf-fmt: tf-config ## terraform fmt -check over the whole tree
	terraform fmt -check -recursive terraform

.PHONY: tf-validate
tf-validate: tf-config ## terraform validate every module and env
	@for d in $(TF_DIRS); do \
	  terraform -chdir=$$d init -backend=false -input=false >/dev/null || { echo "$$d: terraform init failed"; exit 1; }; \
	  terraform -chdir=$$d validate -no-color | grep . | sed "s|^|$$d: |" || exit 1; \
	done

.PHONY: tf-test
tf-test: tf-config ## terraform test (mocked AWS provider) in every module and env that has tests
	@for d in $(TF_DIRS); do \
	  if ls $$d/tests/*.tftest.hcl >/dev/null 2>&1; then \
	    terraform -chdir=$$d init -backend=false -input=false >/dev/null; \
	    out=$$(terraform -chdir=$$d test -no-color 2>&1) || { echo "$$out"; exit 1; }; \
	    echo "$$d: $$(echo "$$out" | tail -1)"; \
	  fi; \
	done

# ---------------------------------------------------------------------------- tests
.PHONY: pytest
pytest: venv stop ## Run pytest on the running stack (stops `make run` services; PYTEST_ARGS="-k name")
	@test -f $(LOCAL_ENV) || { echo "the local stack is not up: run 'make localstack-up' first"; exit 1; }
	$(WITH_STACK_ENV) $(BIN)/pytest $(PYTEST_ARGS)

IAM_AUDIT := $(abspath $(STATE)/iam-audit)

.PHONY: test
test: lint tf-fmt tf-validate tf-test tf-wiring checkov ## Everything: lint, Terraform checks, emulator up, pytest, IAM report, emulator down
	@started=0; $(PY) scripts/emulator.py status --state $(STATE) >/dev/null 2>&1 || started=1; \
	rm -rf $(IAM_AUDIT); \
	rc=0; FML_IAM_AUDIT_DIR=$(IAM_AUDIT) $(MAKE) localstack-up && FML_IAM_AUDIT_DIR=$(IAM_AUDIT) $(MAKE) pytest || rc=$$?; \
	if [ $$rc = 0 ]; then $(MAKE) iam-report || rc=$$?; fi; \
	if [ $$started = 1 ]; then $(MAKE) localstack-down; fi; \
	exit $$rc

.PHONY: iam-report
iam-report: venv ## Per role: the actions the last `make test` used beside those its policy grants
	@test -f $(STATE)/outputs.json || { echo "no stack outputs: run 'make test' first"; exit 1; }
	@$(PY) -m fmlcore.core.iam_audit $(STATE)/outputs.json $(IAM_AUDIT)

# ---------------------------------------------------------------------------- services
TRAINER_PORT ?= 8081
PREDICTOR_PORT ?= 8080
PROCS := $(PY) -m fmldev.procs --state $(STATE)

.PHONY: run
run: localstack-up ## Start the APIs (predictor :8080, trainer :8081) and both workers, each under its own role
	@$(WITH_STACK_ENV) FML_ROLE_ARN=$$FML_ROLE_ARN_TRAINER_API FML_BIND=127.0.0.1:$(TRAINER_PORT) \
	  $(PROCS) start trainer-api --health http://127.0.0.1:$(TRAINER_PORT)/health -- \
	  $(BIN)/gunicorn -c python:trainer.gunicorn_conf 'trainer.api:create_app()'
	@$(WITH_STACK_ENV) FML_ROLE_ARN=$$FML_ROLE_ARN_PREDICTOR_API FML_BIND=127.0.0.1:$(PREDICTOR_PORT) \
	  $(PROCS) start predictor-api --health http://127.0.0.1:$(PREDICTOR_PORT)/health -- \
	  $(BIN)/gunicorn -c python:predictor.gunicorn_conf 'predictor.api:create_app()'
	@$(WITH_STACK_ENV) FML_ROLE_ARN=$$FML_ROLE_ARN_TRAINER_WORKER $(PROCS) start trainer-worker -- $(PY) -m trainer.worker
	@$(WITH_STACK_ENV) FML_ROLE_ARN=$$FML_ROLE_ARN_PREDICTOR_WORKER $(PROCS) start predictor-worker -- $(PY) -m predictor.worker

.PHONY: stop
stop: ## Stop the APIs and workers started by `make run`
	@test -x $(PY) && $(PROCS) stop trainer-api predictor-api trainer-worker predictor-worker || true

QUEUE ?= train predict
.PHONY: redrive
redrive: venv ## Move dead-lettered jobs back to their queue after fixing the cause (QUEUE=train|predict)
	@$(WITH_STACK_ENV) $(PY) -m fmlcore.jobs.redrive $(QUEUE)

# ---------------------------------------------------------------------------- demo
.PHONY: demo
demo: run ## Run the main job on the local emulator (as the platform's user role) and show what happened
	@$(WITH_STACK_ENV) FML_ROLE_ARN=$$FML_USER_ROLE_ARN $(PY) scripts/demo.py

# ---------------------------------------------------------------------------- benchmarks (not in CI)
BENCH_ARGS ?=

.PHONY: bench
bench: venv tf-config ## Benchmark online, batch, training, latency vs their limits (~10 min; bench/results/)
	$(PY) bench/run.py $(BENCH_ARGS)

.PHONY: bench-quick
bench-quick: venv tf-config ## Smoke run of the benchmark with tiny sizes (~3-4 min)
	$(PY) bench/run.py --quick $(BENCH_ARGS)

.PHONY: bench-peers
bench-peers: venv tf-config ## Online load vs MLflow and BentoML (installs them once into bench/.peers-venv)
	$(PY) bench/peers.py $(BENCH_ARGS)

.PHONY: clean
clean: localstack-down ## Stop everything and remove local state (keeps the venv)
	rm -rf $(STATE) .pytest_cache .ruff_cache
	find terraform -name .terraform -type d -prune -exec rm -rf {} +
	find terraform -name .terraform.lock.hcl -delete
