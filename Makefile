# Two entry points: `make demo` and `make test` (both create .venv and install first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test envs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Optional environment families (gymnasium-robotics, dm_control via shimmy, pybullet, Box2D).
envs: $(STAMP)
	$(BIN)/pip install --quiet -r requirements-envs.txt

demo: $(STAMP)
	$(BIN)/seamrl demo

test: $(STAMP) envs
	$(BIN)/python -m pytest tests

clean:
	rm -rf $(VENV) build *.egg-info
