#!/bin/bash
# Inside the `make vm-test` VM (started by scripts/vm/init): run the suite from the host's
# checkout with the host's .venv, write its report to REPORT_DIR (v2) and its exit status to
# .vm/status for vm-test.sh. The settings come from .vm/run.env, written by the host.
set -u
repo=${1:?usage: guest.sh REPO}
cd "$repo" || exit 1
# shellcheck source=/dev/null
. .vm/run.env
export MINIDOCK_TEST_PING_TIMEOUT HOME=/root LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 MINIDOCK_VM=1   # nothing written into the checkout but the report

echo "vm: $(uname -sr), cgroup $(stat -fc %T /sys/fs/cgroup) at /sys/fs/cgroup" \
     "(controllers: $(cat /sys/fs/cgroup/cgroup.controllers)), $(python3 -V)"
# The VM is alone: the harness's machine-wide leak check stays on.
# shellcheck disable=SC2086  # PYTEST_ARGS is a list of words
.venv/bin/pytest -n "$WORKERS" -p no:cacheprovider --color=no --conformance-report="$REPORT_DIR" --conformance-subset $PYTEST_ARGS
status=$?
echo "$status" > .vm/status
exit "$status"
