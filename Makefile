# mmseg-pdnet: `make demo` and `make test` set up .venv/ when needed, then run.
PY := .venv/bin/python
DEMO_DIR ?= work_dirs/demo
# pytest-xdist processes for `make test`, each test file in one of them
# (0: the whole suite in one process)
TEST_WORKERS ?= 2

.PHONY: setup test demo clean-venv

setup:
	@bash tools/setup_env.sh

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

demo: setup
	bash tools/run_demo.sh $(DEMO_DIR)

clean-venv:
	rm -rf .venv
