# minidock: two commands on a fresh Debian 12 machine (README.md).
#   sudo make demo   install what is missing, start a daemon, run a container
#   sudo make test   the same set-up, then the suite, the report, the book, the import rules
# `make setup` is idempotent and quick when nothing is missing.

SHELL       := /bin/bash
VENV        := .venv
PY          := $(VENV)/bin/python
BIN         := $(VENV)/bin
# Debian's own Python 3.11; falls back to whatever python3 is on the PATH.
HOST_PYTHON := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || command -v python3)
DEB_PACKAGES := busybox-static iproute2 iptables nftables util-linux procps psmisc iperf3 strace \
                python3-venv python3-dev runc crun skopeo umoci tini podman catatonit containerd \
                graphviz chromium chromium-driver docker-compose docker-registry etcd-server
# catatonit: podman's --init (tests/runtime/test_shim.py runs it under minidock-runtime)
# containerd: docker's shim driving minidock-runtime (test_shim.py) and the monitor-memory target
# (bench/containerd.py starts a private one; under systemd the package also starts the machine's
# containerd, which changes no firewall rule and which the tests leave alone)
# strace: tests/trace checks that a tracer which is itself traced is refused clearly
# graphviz: the book's figures (docs/hooks/figures.py); chromium: the book in a browser (tests/docs)
# docker-registry: distribution 2.8, the reference registry the tests/registry suite also runs against
# docker-compose: Debian's 1.29, run against minidockd by tests/compose
# etcd-server: the swarm's cluster store (a Raft replica on each manager, tests/swarm)
WORKERS     ?= 2
REPORT_DIR  := docs/report
DEMO_SOCK   := /run/minidock/minidock.sock
PYTEST_ARGS ?=
# make vm-test: the suite again in a Debian 12 VM with pure cgroup v2 (scripts/vm/, README "In a VM").
# The image is cached outside the checkout (CI clones afresh), keyed on what provisions it.
VM_PACKAGES := qemu-system-x86 qemu-utils debootstrap e2fsprogs
VM_CACHE    ?= /var/cache/minidock/vm
VM_PYTEST_ARGS ?=

.PHONY: all setup deb venv demo test test-only lint-imports docs bench clean daemon-start daemon-stop \
        vm-test test-vm

all: setup

setup: deb venv

# Debian packages: only ask apt when one is missing.
deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The venv, reinstalled only when pyproject.toml or this Makefile changes.
venv: $(VENV)/.installed

# compat: a plain path in a .pth file; the default editable finder costs ~12 ms per start
$(VENV)/.installed: pyproject.toml Makefile
	@test -x $(PY) || $(HOST_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,docs]' --config-settings editable_mode=compat
	@echo 'import os; os.environ.get("COVERAGE_PROCESS_START") and __import__("runpy").run_path("$(CURDIR)/tests/harness/coverage_startup.py")["start"]()' \
	  > "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/minidock-coverage.pth"
	@# minidock-runtime starts with python -S (no site: no scan of the venv's .pth files, ~5 ms
	@# of every container's start, measured against runc); this checkout and the venv's
	@# packages (python-ptrace, for --trace) go on sys.path where site would have put them, and the
	@# suite's coverage starts as minidock-coverage.pth would have started it; no cyclic garbage
	@# collection during the imports (~3 ms), main() turns it back on for every verb but run
	@printf '#!%s -S\nimport gc, os, sys\ngc.disable()\nsys.path += ["%s", "%s"]\nif os.environ.get("COVERAGE_PROCESS_START"):\n    __import__("runpy").run_path("%s/tests/harness/coverage_startup.py")["start"]()\nfrom minidock.runtime.cli import main\nsys.exit(main())\n' \
	  "$(abspath $(PY))" "$(CURDIR)" "$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" "$(CURDIR)" \
	  > $(BIN)/minidock-runtime
	@touch $@

# ---------------------------------------------------------------------------
demo: setup
	@bash scripts/demo.sh

# ---------------------------------------------------------------------------
test: setup lint-imports test-only test-vm docs

lint-imports: venv
	$(BIN)/lint-imports

# Coverage of every Python process the suite starts (pyproject.toml [tool.coverage.run]):
# combined into $(REPORT_DIR)/coverage.json, which the book shows per chapter (report/coverage.md).
# It costs 1.4-1.7x on the runtime and engine tests; `make test COVERAGE=0` runs without it.
COVERAGE     ?= 1
COVERAGE_DIR := $(CURDIR)/.coverage-data
MEASURE      := $(if $(filter 0,$(COVERAGE)),,COVERAGE_PROCESS_START=$(CURDIR)/pyproject.toml MINIDOCK_COVERAGE_DIR=$(COVERAGE_DIR))
test-only: venv
	rm -rf $(COVERAGE_DIR) && mkdir -p $(COVERAGE_DIR) $(REPORT_DIR)
	$(MEASURE) $(BIN)/pytest -n $(WORKERS) --conformance-report=$(REPORT_DIR) $(PYTEST_ARGS); status=$$?; \
	  if [ -n "$(MEASURE)" ]; then \
	    MINIDOCK_COVERAGE_DIR=$(COVERAGE_DIR) $(BIN)/coverage combine -q --rcfile=pyproject.toml $(COVERAGE_DIR) && \
	    MINIDOCK_COVERAGE_DIR=$(COVERAGE_DIR) $(BIN)/coverage json -q --rcfile=pyproject.toml -o $(REPORT_DIR)/coverage.json; \
	  fi; exit $$status

# The VM's packages are installed only when it runs; the VM's exit status is the suite's.
vm-test: venv
	@$(MAKE) --no-print-directory deb DEB_PACKAGES="$(VM_PACKAGES)"
	DEB_PACKAGES="$(DEB_PACKAGES)" VM_CACHE="$(VM_CACHE)" REPORT_DIR="$(REPORT_DIR)" \
	  PYTEST_ARGS="$(VM_PYTEST_ARGS)" scripts/vm/vm-test.sh

# make test's VM part: skipped, saying why, with MINIDOCK_SKIP_VM=1 or on a host that is pure v2 itself.
test-vm: venv
	@if scripts/vm/vm-test.sh --can-run; then $(MAKE) --no-print-directory vm-test; fi

docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# compileall first: with PYTHONDONTWRITEBYTECODE set, every start would compile again
bench: setup
	$(PY) -m compileall -q minidock bench
	$(PY) -m bench --results docs/bench/results.json

clean:
	rm -rf site $(REPORT_DIR) .pytest_cache build .vm .coverage-data
