#!/usr/bin/env bash
# `sudo make demo`: start a daemon if none runs, build busybox:latest, run a container
# that shows its own hostname, PID 1 and limits.
#
# Today the container is started by the lowest layer that exists, minidock-runtime,
# from an OCI bundle of the embedded busybox image; once the engine can run
# containers (issue 5) this becomes `minidock run --memory 64m busybox ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
SOCK=/run/minidock/minidock.sock
HOST=unix://$SOCK
LOG=/var/log/minidockd.log

if [ "$(id -u)" != 0 ]; then
  echo "the demo makes namespaces, mounts and cgroups: run it as root (sudo make demo)" >&2
  exit 1
fi

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "minidockd: the daemon"
if $BIN/python -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])" "$SOCK" 2>/dev/null; then
  echo "a daemon already answers on $SOCK"
else
  setsid $BIN/minidockd -H "$HOST" >>"$LOG" 2>&1 < /dev/null &
  for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
  echo "started minidockd (pid $!), log in $LOG"
fi
$BIN/minidock -H "$HOST" version

step "busybox:latest, built from the host's busybox-static (no network)"
BUNDLE=build/demo-bundle
rm -rf "$BUNDLE"
$BIN/minidock image bootstrap busybox --bundle "$BUNDLE"

step "a container: new namespaces, a 64 MiB memory limit, at most 32 processes"
$BIN/python - "$BUNDLE/config.json" <<'PY'
import json, sys
path = sys.argv[1]
config = json.load(open(path))
config["hostname"] = "minidock-demo"
config["process"]["args"] = ["sh", "-c", """
echo "hostname:      $(hostname)"
echo "my PID:        $$"
echo "PIDs I see:    $(cd /proc && echo [0-9]*)"
if [ -f /sys/fs/cgroup/memory.max ]; then
  echo "memory limit:  $(cat /sys/fs/cgroup/memory.max) bytes (cgroup v2)"
  echo "pids limit:    $(cat /sys/fs/cgroup/pids.max)"
else
  echo "memory limit:  $(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) bytes (cgroup v1)"
  echo "pids limit:    $(cat /sys/fs/cgroup/pids/pids.max)"
fi
echo "my root:       $(echo /*)"
"""]
config["linux"]["resources"] = {"memory": {"limit": 64 * 2**20}, "pids": {"limit": 32}}
json.dump(config, open(path, "w"), indent=2)
PY
$BIN/minidock-runtime run --bundle "$BUNDLE" "demo-$$"
rm -rf "$BUNDLE"
step "done: the daemon keeps running (stop it with: kill \$(cat /run/minidock/minidockd.pid))"
