# pptv.dcos: the two commands of the quick start are `make demo` and `make test`.
# Targets that need the engine or the services run `make setup` first (as root: Debian packages,
# dockerd, images); lint, sanity and units need only .venv (`make venv`, any user). Both are quick
# when there is nothing to do. `sudo bash scripts/check-no-root.sh` proves the second claim.
SHELL := /bin/bash
.DEFAULT_GOAL := help
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/.venv/bin:$(PATH)
# Extra arguments for pytest suites, e.g. `make integration PYTEST_ARGS='-k nginx'`.
PYTEST_ARGS ?=
# Narrow ansible-test, e.g. `make sanity SANITY_ARGS='--test validate-modules plugins/modules/x.py'`.
SANITY_ARGS ?=
UNITS_ARGS ?=
export PYTEST_ARGS SANITY_ARGS UNITS_ARGS

.PHONY: help setup venv test lint sanity units integration e2e molecule build demo lab-up lab-status lab-down clean

help:  ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

setup:  ## Install host packages, start Docker, make .venv and the base images (root; idempotent).
	@bash scripts/setup.sh

venv:  ## Make .venv with the pinned requirements, nothing else (any user; idempotent).
	@bash scripts/setup.sh venv

test: setup  ## Run every check and test suite, then print a summary.
	@bash scripts/test.sh all

lint: venv  ## ruff, yamllint and ansible-lint (production profile).
	@bash scripts/test.sh ruff yamllint ansible-lint

sanity: venv  ## ansible-test sanity (empty ignore file).
	@bash scripts/test.sh sanity

units: venv  ## ansible-test units.
	@bash scripts/test.sh units

integration: setup  ## pytest suites against real Docker, BIND, Nginx, GlusterFS, ZooKeeper.
	@bash scripts/test.sh integration

e2e: setup  ## End-to-end suites against the lab.
	@bash scripts/test.sh e2e

molecule: setup  ## Molecule scenarios of the roles.
	@bash scripts/test.sh molecule

build: setup  ## Build the collection tarball, install it in a clean venv, render every module's docs.
	@bash scripts/test.sh build

LAB_CTL = PYTHONPATH=$(CURDIR)/lab $(CURDIR)/.venv/bin/python -m marathon_lab.ctl

lab-up: setup  ## Start the lab: bridge network, Marathon API on 127.0.0.1:8080, hosts (idempotent).
	@$(LAB_CTL) up

lab-status:  ## Print the lab's URL, hosts and apps.
	@$(LAB_CTL) status

lab-down:  ## Remove what the lab made (API, hosts, task containers, network, state).
	@$(LAB_CTL) down

demo: lab-up  ## Lab up, site.yml, deploy int and func-shop, print their tables and a /deps answer from each.
	@ansible-playbook -i inventories/lab playbooks/site.yml
	@ansible-playbook -i inventories/lab playbooks/deploy_env.yml -e env=int
	@ansible-playbook -i inventories/lab playbooks/deploy_env.yml -e env=func-shop
	@ansible-playbook -i inventories/lab playbooks/status_env.yml -e deps=true
	@$(LAB_CTL) status

clean:  ## Remove build outputs and caches (not .venv, not the images).
	rm -rf tests/output .pytest_cache .ruff_cache pptv-dcos-*.tar.gz
