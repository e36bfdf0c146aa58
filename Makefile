# Every target sets up what it needs: on a fresh machine `make test` alone is enough.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXTRAS := test,load,docker,bench

.PHONY: install test lint gameday bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[$(EXTRAS)]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	@# promtool (Debian's prometheus) for the alert-rule tests; they skip, naming why, where it cannot be installed.
	-@bash .ci/install-system-packages
	$(BIN)/ruff check .
	@# Two lanes, one worker each: the cluster tests and the in-process ones (tests/conftest.py).
	$(BIN)/pytest -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check .

gameday: $(STAMP)
	@# fuse3 for the lazyfs power-loss model (without it a run falls back to the store's own durable mark, and says so).
	-@bash .ci/install-system-packages
	$(BIN)/gameday run default

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

.PHONY: docker-images docker-base-image

# The Docker backend's images: a Python base from Debian packages (no registry needed; reused when it
# exists), then the project image from wheels built here (rebuilt only when the source changed).
docker-base-image:
	bash docker/build-base-image.sh

docker-images: $(STAMP) docker-base-image
	$(BIN)/python -m cluster.deploy.docker_images build
