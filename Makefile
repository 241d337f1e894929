# mmseg-pdnet: `make demo` and `make test` set up .venv/ when needed, then run.
PY := .venv/bin/python
DEMO_DIR ?= work_dirs/demo
# pytest-xdist processes for `make test`, each test file in one of them
# (0: the whole suite in one process)
TEST_WORKERS ?= 2

.PHONY: setup test demo gpu-report clean-venv

setup:
	@bash tools/setup_env.sh

test: setup
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

demo: setup
	bash tools/run_demo.sh $(DEMO_DIR)

# on a CUDA machine set up by hand (make setup installs CPU torch):
# work_dirs/gpu_report/report.{json,md}
gpu-report:
	$(PY) tools/analysis_tools/gpu_report.py

clean-venv:
	rm -rf .venv
