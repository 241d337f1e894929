# mmseg-pdnet: `make demo` and `make test` set up .venv/ when needed, then run.
PY := .venv/bin/python
DEMO_DIR ?= work_dirs/demo

.PHONY: setup test demo clean-venv

setup:
	@bash tools/setup_env.sh

test: setup
	$(PY) -m pytest -q tests

demo: setup
	bash tools/run_demo.sh $(DEMO_DIR)

clean-venv:
	rm -rf .venv
