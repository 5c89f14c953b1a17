# Entry points the README documents. Every target sets up what it needs first (idempotent).
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Node 22 from the npm registry (package.json) comes first, so jsii never sees an EOL Node.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export CDK_DISABLE_CLI_TELEMETRY := true
CDK := $(CURDIR)/node_modules/.bin/cdk --no-notices
ENV ?=
ENV_FLAG := $(if $(ENV),-c env=$(ENV),)

.PHONY: help dev lint format test test-load reliability docs snapshot scan synth diff deploy demo push seed api bench cost clean mutate lock deploy-role

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

dev: $(VENV)/.installed node_modules/.installed ## set up .venv/ and node_modules/ (idempotent)

# Installs the lock (every transitive dependency pinned, with hashes), not the loose files.
$(VENV)/.installed: requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.lock
	@# The checkout's runtime packages (kahula_core, persister) on the venv's path, as an
	@# editable install would put them: app.py, local/, bench/ and scripts/ import them.
	$(BIN)/python -c "import sysconfig, pathlib; pathlib.Path(sysconfig.get_paths()['purelib'], 'kahula-checkout.pth').write_text('$(CURDIR)/lambdas\n')"
	@touch $@

lock: ## re-resolve requirements-dev.lock after editing a requirements*.txt pin
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links --output-file requirements-dev.lock requirements-dev.txt

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

lint: dev ## ruff, format check, mypy, actionlint (workflows)
	ruff check .
	ruff format --check .
	mypy
	actionlint

format: dev ## apply ruff fixes and formatting
	ruff check --fix .
	ruff format .

test: dev ## the test suite (unit, infra, integration)
	pytest

docs: dev ## regenerate the README's configuration reference from cdk_app/config.py
	python -m scripts.config_reference --write

test-load: dev ## 10,000 events through the local pipeline alone, with its figures (also in make test)
	pytest tests/integration/test_load.py -s

reliability: dev ## fault injection through the local pipeline, with its figures
	python -m local.faults --events 1000

snapshot: dev ## accept template changes: rewrite the infra snapshots, then review the diff
	pytest tests/infra/test_snapshots.py --snapshot-update

CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-scan.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-scan.txt
	@touch $@

scan: dev $(CHECKOV_VENV)/.installed ## Control Tower controls at synth, then cfn-lint and checkov
	@# -c compliance=true: cdk-nag and the Control Tower proactive controls (cfn-guard, bundled).
	$(CDK) synth --quiet $(ENV_FLAG) -c compliance=true
	@# A violation the plugin cannot map to a construct does not fail synth: fail on it here.
	python -c "import json, sys; r = json.load(open('cdk.out/validation-report.json')); v = [x['description'] for p in r['pluginReports'] for x in p.get('violations', [])]; print(*v, sep='\n'); sys.exit(bool(v))"
	cfn-lint cdk.out/*.template.json
	$(CHECKOV_VENV)/bin/checkov -d cdk.out --framework cloudformation --compact --quiet --skip-download

synth: dev ## synthesize every environment (or ENV=name) into cdk.out/, offline
	$(CDK) synth --quiet $(ENV_FLAG)

BASE ?= origin/main
diff: dev ## offline template diff vs a git ref: make diff BASE=main [ENV=prod] [ALLOW_REPLACEMENT=stack/id]
	python -m scripts.template_diff --base "$(BASE)" $(if $(ENV),--env $(ENV),) \
		--allow-replacement "$(ALLOW_REPLACEMENT)"

PREFIX ?= kahula
deploy: dev ## gate against the deployed stack, then deploy it: make deploy ENV=dev (credentials)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=dev|staging|prod"; exit 2; }
	python -m scripts.deploy_gate --env $(ENV) --output cdk.out.gated \
		--allow-replacement "$(ALLOW_REPLACEMENT)"
	$(CDK) deploy --app cdk.out.gated --require-approval broadening $(PREFIX)-$(ENV)

deploy-role: dev ## the GitHub OIDC deploy role in this account: make deploy-role REPO=org/name ENVIRONMENTS=dev
	@test -n "$(REPO)" || { echo "usage: make deploy-role REPO=org/name ENVIRONMENTS=dev[,staging]"; exit 2; }
	$(CDK) deploy -c github-repo=$(REPO) $(if $(ENVIRONMENTS),-c github-environments=$(ENVIRONMENTS),) \
		$(if $(OIDC_PROVIDER_ARN),-c github-oidc-provider-arn=$(OIDC_PROVIDER_ARN),) \
		--require-approval broadening $(PREFIX)-github-deploy

demo: dev ## run the whole pipeline locally on an embedded AWS (moto); KEEP=1 leaves it running for kahula --local
	python -m local.demo $(if $(KEEP),--keep,)

push: dev ## push your own events through the local pipeline: make push EVENTS=file.jsonl
	@test -n "$(EVENTS)" || { echo "usage: make push EVENTS=path/to/events.jsonl"; exit 2; }
	python -m local.demo --events "$(EVENTS)"

seed: dev ## one sample per event type on the FIFO queue (local session; ENV=dev: deployed); INVALID=1 adds invalid ones
	python -m cdk_app.cli $(if $(ENV),--env $(ENV),--local) seed $(if $(INVALID),--invalid,)

api: dev ## the HTTP API on 127.0.0.1 over the local pipeline (PORT=8080); Ctrl-C stops it
	JSII_NODE=$(CURDIR)/local/jsii_node python -m local.api_server --port $(or $(PORT),8080)

bench: dev ## benchmarks: ratios measured in one run (handler CPU, cold start, synth, e2e)
	python -m bench.run

cost: dev ## cost per million events for each environment's synthesized configuration
	python -m bench.cost
	python -m bench.cost --follow-up-share 0.5
	python -m bench.stream
	python -m bench.queue

.PHONY: capacity
capacity: dev ## event rate at which each AWS quota binds, per environment (and what to raise)
	python -m bench.capacity
	python -m bench.capacity --follow-up-share 0.5

mutate: dev ## mutation testing of the core's store, persist, record, hashing, attributes (slow; not in CI)
	python -m scripts.mutate

clean: ## remove build output (keeps .venv/ and node_modules/)
	rm -rf cdk.out cdk.out.gated .pytest_cache .mypy_cache .ruff_cache .demo
