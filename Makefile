# One command to try the product, one to test it. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test install validate bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Until the web UI lands, the demo installs the engine and validates the default company.
demo: $(STAMP)
	$(BIN)/crm validate configs
	for d in examples/*/; do $(BIN)/crm validate $$d || exit 1; done

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

validate: $(STAMP)
	$(BIN)/crm validate configs

bench: $(STAMP)
	$(BIN)/python bench/config_load.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
