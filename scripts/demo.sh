#!/usr/bin/env bash
# `sudo make demo`: start a daemon if none runs, build busybox:latest, run a container
# that shows its own hostname, PID 1 and limits.
#
# The container goes the whole way: minidock run -> minidockd's API -> the image's
# snapshot -> minidock-runtime -> namespaces and cgroups.
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

step "busybox:latest, built from the host's busybox-static (no network), loaded into the daemon"
$BIN/minidock -H "$HOST" image bootstrap busybox

step "a container: new namespaces, a 64 MiB memory limit, at most 32 processes"
$BIN/minidock -H "$HOST" run --rm --hostname minidock-demo --memory 64m --pids-limit 32 busybox sh -c '
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
'

step "the same engine through the real docker CLI, if it is installed"
if command -v docker >/dev/null; then
  docker -H "$HOST" run --rm busybox echo "hello from docker run, answered by minidockd"
  docker -H "$HOST" ps -a
fi
