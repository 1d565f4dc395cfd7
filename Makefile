# One command to try the product, one to test it. Both install what they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Front-end files (htmx, SortableJS, Chart.js) come from the npm registry through the
# committed package.json + package-lock.json; only their dist files are served.
VENDOR       := ui/static/vendor
VENDOR_STAMP := $(VENDOR)/.installed

.PHONY: demo test install validate bench clean vendor messages

# Order-only on the vendor files: they are fetched (or refreshed) first, but a new
# package-lock.json does not reinstall the Python side.
$(STAMP): pyproject.toml | $(VENDOR_STAMP)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pybabel -q compile -d ui/locale -D messages
	touch $(STAMP)

install: $(STAMP)

vendor: $(VENDOR_STAMP)

$(VENDOR_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "error: npm not found. The web UI's front-end files (htmx, SortableJS, Chart.js) come from the npm registry: install Node.js with npm (Debian: apt-get install npm) and run make again." >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/sortablejs/Sortable.min.js $(VENDOR)/
	cp node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map $(VENDOR)/
	touch $@

# UI strings: extract from ui/ into the template, merge into each language, compile.
# (Runtime compiles a .po in memory when its .mo is missing or older, so this is for translators.)
messages: $(STAMP)
	$(BIN)/pybabel -q extract -F ui/babel.cfg -o ui/locale/messages.pot --no-location --sort-output --project crm-engine ui
	$(BIN)/pybabel -q update -i ui/locale/messages.pot -d ui/locale -D messages --no-fuzzy-matching
	$(BIN)/pybabel -q compile -d ui/locale -D messages

# The demo: install everything, fill var/demo.sqlite3 with the default company's demo data
# (only the first time: --keep leaves a database that already has it), then serve the web UI.
DEMO_DB ?= sqlite:///var/demo.sqlite3
demo: $(STAMP)
	mkdir -p var
	$(BIN)/crm demo --db $(DEMO_DB) --keep
	$(BIN)/crm serve --db $(DEMO_DB)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

validate: $(STAMP)
	$(BIN)/crm validate configs

SCALE ?= 0.1
bench: $(STAMP)
	$(BIN)/python bench/config_load.py
	$(BIN)/python bench/alerts_scan.py --contracts 100000 --messages 2000
	# Page benchmark (L1-L3, R1) in the shared harness: app vs raw floor vs Django admin.
	# May apt-get install wrk/curl/util-linux/sqlite3 (root) and create /tmp/benchvenv; see bench/pages.sh.
	bench/pages.sh $(SCALE)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis node_modules $(VENDOR)
