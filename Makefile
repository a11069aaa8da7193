# The README's two commands: `make demo` and `make test`. Everything else is a helper.
# `make demo KEEP=1` / `make stack` leave PostgreSQL (127.0.0.1:55432) and Azurite (10000-10002)
# running with ./local.settings.json pointing at them; `make stop` stops both by PID.
PY      ?= python3
VENV    := .venv
VPY     := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
INFRA_STAMP := .venv-infra/.installed

.PHONY: install install-infra demo stack stop test bench lint clean

# what the demo, the stack and the CLI need; the checkov venv is only for `make test`
install: $(STAMP) node_modules/.bin/azurite

install-infra: $(INFRA_STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet -r requirements-dev.txt
	$(VPY) devtools/i18n.py compile  # gettext catalogs: .po (in git) -> .mo
	touch $(STAMP)

# checkov for tests/test_infra.py: a separate venv, its pins conflict with pytest's
$(INFRA_STAMP): requirements-infra.txt
	$(PY) -m venv .venv-infra
	.venv-infra/bin/python -m pip install --quiet --upgrade pip
	.venv-infra/bin/python -m pip install --quiet -r requirements-infra.txt
	touch $(INFRA_STAMP)

node_modules/.bin/azurite: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

demo: install
	$(VPY) devtools/demo.py $(if $(KEEP),--keep) $(if $(FLEET),--fleet $(FLEET))

stack: install
	$(VPY) devtools/stack.py start $(if $(FLEET),--fleet $(FLEET))

stop:
	$(if $(wildcard $(VPY)),$(VPY),$(PY)) devtools/stack.py stop

test: install install-infra lint
	$(VPY) -m pytest -q tests

# ruff with the small rule set of ruff.toml (real mistakes only, no formatting); CI runs it through `make test`
lint: install
	$(VPY) -m ruff check .

bench: install
	$(VPY) bench/run_all.py

clean:
	rm -rf $(VENV) .venv-infra node_modules .pytest_cache demo-output
