# The course's two commands: `make lab` (open the course) and `make test` (run everything).
# Both create .venv on first use and install requirements.txt (which installs course_lib too).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# JupyterLab refuses to run as root without --allow-root; add it only when we really are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)
PORT ?= 8888

.PHONY: lab test install bench coverage site notebooks time-notebooks data clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "The course needs Python 3.11 or newer; found " + sys.version.split()[0] + ". Run: make PYTHON=python3.11 ...")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements.txt
	@touch $(STAMP)

lab: install
	@echo "Starting JupyterLab on notebooks/ — open the URL printed below (Ctrl-C twice to stop)."
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(PORT) --no-browser $(ALLOW_ROOT)

test: install
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-cell-timeout=300 -p no:cacheprovider

coverage: install
	$(BIN)/python -m pytest tests -m "not slow" --ignore=tests/e2e --cov=course_lib --cov-report=term-missing -p no:cacheprovider

# `make bench` races the course's PPO against Stable-Baselines3 on CartPole-v1 and Pendulum-v1 (a few minutes).
# Name tasks to race those instead (minutes per run): `make bench LunarLander-v3`, `make bench Hopper-v5
# HalfCheetah-v5`, or `make bench ENV=LunarLander-v3`. (`make bench --env LunarLander-v3` works too: make reads
# --env as its own -e switch, which changes nothing here.) Extra options: BENCH_ARGS="--seeds 2" or "--quick".
BENCH_TASKS := CartPole-v1 Pendulum-v1 LunarLander-v3 Hopper-v5 HalfCheetah-v5
.PHONY: $(BENCH_TASKS)
BENCH_SELECTED := $(strip $(filter $(BENCH_TASKS),$(MAKECMDGOALS)) $(ENV))
bench: install
	$(BIN)/python tests/benchmarks/bench_ppo.py $(if $(BENCH_SELECTED),--env $(BENCH_SELECTED)) $(BENCH_ARGS)
$(BENCH_TASKS):
	@:

# The course as a static website, built from the committed notebooks without executing them (site/conf.py):
# open _build/site/index.html from disk, or serve _build/site/ with any file server. Offline; no CDN.
# COURSE_REPOSITORY_URL=https://github.com/<owner>/<repo> adds "Open in Binder / Colab" links to each page.
site: install
	$(BIN)/python -m sphinx -b html -E -q -c site -d _build/doctrees . _build/site
	@echo "The course website: _build/site/index.html"

# Rebuild (and execute) the committed notebooks from notebooks/src/*.py; prints each run time.
notebooks: install
	$(BIN)/python tools/build_notebook.py $(sort $(wildcard notebooks/src/*.py))

# Time every committed notebook top to bottom from a fresh kernel; writes only notebooks/run_times.json, which
# the README's course map and each notebook's header quote (tests/test_run_times.py keeps them in step).
time-notebooks: install
	$(BIN)/python tools/build_notebook.py --time --json notebooks/run_times.json

# Regenerate the stored results in notebooks/data/ with their provenance: `make data` (all of them) or
# `make data NAME` / `make data NAME=nb03_learning_curves` (one of them). See course_lib/stored_results.py.
DATA_NAMES := $(basename $(notdir $(wildcard notebooks/scripts/*.py)))
data: install
	$(BIN)/python -m course_lib.stored_results $(filter $(DATA_NAMES),$(MAKECMDGOALS)) $(NAME)

ifneq ($(filter data,$(MAKECMDGOALS)),)
$(filter $(DATA_NAMES),$(MAKECMDGOALS)):
	@:
endif

clean:
	rm -rf $(VENV) .pytest_cache
