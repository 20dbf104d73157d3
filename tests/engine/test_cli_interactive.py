"""Our CLI with input and terminals: run -i/-it, start -ai, attach, exec, detach keys, health flags.

pexpect gives the CLI a terminal of its own, as a user's shell would. The tests drive the
engine's own CLI (`minidock`, or `docker` with --engine=docker), so they hold for both.
"""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest

pexpect = pytest.importorskip("pexpect")

from tests.engine.test_terminal import _shell_works as shell_works  # noqa: E402 - the same checks as docker's


@pytest.fixture
def names(engine):
    """names() -> a fresh container name; every container so named is removed at the end."""
    made: list[str] = []

    def fresh() -> str:
        made.append(f"mdit-{uuid.uuid4().hex[:10]}")
        return made[-1]

    yield fresh
    for name in made:
        engine.cli("rm", "-f", name, check=False)


@pytest.fixture
def spawn(engine):
    """spawn(*args) -> the CLI under a pexpect terminal of 24 rows and 80 columns."""
    children = []

    def start(*args: str, command: str | None = None):
        argv = [*engine.cli_argv[1:], "-H", engine.host, *args]
        if command is not None:  # a shell line around the CLI: {cli} stands for it
            cli = " ".join(f"'{word}'" for word in [engine.cli_argv[0], *argv])
            child = pexpect.spawn("/bin/sh", ["-c", command.format(cli=cli)], encoding="utf-8",
                                  timeout=20, env={**os.environ, "TERM": "xterm"})
        else:
            child = pexpect.spawn(engine.cli_argv[0], argv, encoding="utf-8", timeout=20,
                                  env={**os.environ, "TERM": "xterm"})
        child.setwinsize(24, 80)
        children.append(child)
        return child

    yield start
    for child in children:
        child.close(force=True)


def _eventually(check, timeout: float = 15.0, step: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def _shell_works(child) -> None:
    """The window size sent after the start, then test_terminal's checks (arithmetic, SIGWINCH, Ctrl-C)."""
    child.expect(r"# ")
    child.sendline("stty size")
    child.expect("24 80")
    shell_works(child)


def _exits(child, status: int) -> None:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == status


# -- run -it, run -i, start -ai, attach ----------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-022", "ENGINE-CLI-010")
def test_run_it_gives_an_interactive_shell(spawn, busybox):
    child = spawn("run", "--rm", "-it", busybox, "sh")
    _shell_works(child)
    child.sendline("exit 3")
    _exits(child, 3)


@pytest.mark.spec("ENGINE-CLI-022")
def test_the_terminal_is_restored_and_must_be_a_terminal(engine, spawn, busybox):
    child = spawn(command="stty -g; {cli} run --rm -it " + busybox + " sh -c 'exit 2'; echo status=$?; stty -g")
    child.expect(r"([0-9a-f:]+)\r\n")
    before = child.match.group(1)
    child.expect(r"status=2\r\n([0-9a-f:]+)\r\n")
    assert child.match.group(1) == before  # raw mode undone
    _exits(child, 0)
    piped = engine.cli("run", "--rm", "-it", busybox, "true", input="", check=False)
    assert piped.returncode == 1
    assert "the input device is not a TTY" in piped.stderr


@pytest.mark.spec("ENGINE-CLI-021")
def test_run_i_sends_piped_input_and_its_end(engine, busybox):
    result = engine.cli("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done; exit 4",
                        input="line one\nline two\n", check=False)
    assert (result.returncode, result.stdout) == (4, "line one\nline two\ndone\n")
    counted = engine.cli("run", "--rm", "-i", busybox, "wc", "-c", input="x" * 200_000)
    assert counted.stdout.strip() == "200000"


@pytest.mark.spec("ENGINE-CLI-021")
def test_start_ai_and_attach_send_stdin(engine, busybox, names):
    name = names()
    engine.cli("create", "-i", "--name", name, busybox, "sh", "-c", "read line; echo got $line; exit 7")
    started = engine.cli("start", "-ai", name, input="hello\n", check=False)
    assert (started.returncode, started.stdout) == (7, "got hello\n")
    other = names()
    engine.cli("run", "-d", "-i", "--name", other, busybox, "sh", "-c", "read line; echo got $line; exit 8")
    attached = engine.cli("attach", other, input="there\n", check=False, timeout=30)
    assert attached.returncode == 8
    assert engine.cli("logs", other).stdout == "got there\n"  # the line reached the container
    if engine.kind == "minidock":
        # Docker ends an attach's output at its input's end (unless created --attach stdin-once),
        # so what the container writes after that reaches only the logs; minidock streams to the exit
        assert attached.stdout == "got there\n"


@pytest.mark.spec("ENGINE-CLI-023", "ENGINE-CLI-022")
def test_detach_keys_leave_the_container_running(engine, spawn, busybox, names):
    name = names()
    child = spawn("run", "--name", name, "-it", busybox, "sh")
    child.expect(r"# ")
    child.send("\x10\x11")  # ctrl-p ctrl-q
    child.expect(pexpect.EOF)
    assert "read escape sequence" not in child.before  # run: a quiet exit 0
    child.close()
    assert child.exitstatus == 0
    assert engine.cli("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
    again = spawn("attach", name)
    again.sendline("echo back$((1+1))")
    again.expect("back2")
    again.send("\x10")
    time.sleep(0.2)
    again.send("\x11")  # the two keys apart, as typed
    again.expect("read escape sequence")
    _exits(again, 1)
    assert engine.cli("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
    last = spawn("attach", name)
    last.sendline("exit 4")
    _exits(last, 4)


# -- exec ----------------------------------------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-024")
def test_exec_output_status_and_flags(engine, busybox, names):
    name = names()
    engine.cli("run", "-d", "--name", name, busybox, "sleep", "60")
    result = engine.cli("exec", name, "sh", "-c", "echo out; echo err >&2; exit 5", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (5, "out\n", "err\n")
    flags = engine.cli("exec", "-e", "GREETING=hi", "-u", "1000:1000", "-w", "/tmp", name,
                       "sh", "-c", "echo $GREETING; id -u; id -g; pwd")
    assert flags.stdout == "hi\n1000\n1000\n/tmp\n"
    piped = engine.cli("container", "exec", "-i", name, "sh", "-c", "cat; echo fin", input="a\nb\n")
    assert piped.stdout == "a\nb\nfin\n"
    assert engine.cli("exec", "-d", name, "touch", "/tmp/made").stdout == ""
    assert _eventually(lambda: engine.cli("exec", name, "ls", "/tmp/made", check=False).returncode == 0)
    unstartable = engine.cli("exec", name, "no-such-program", check=False)
    # Docker's daemon makes any exec that cannot start a 126; minidock passes on its runtime's 127, as for run
    assert unstartable.returncode == (126 if engine.kind == "docker" else 127)
    assert "no-such-program" in unstartable.stdout + unstartable.stderr
    missing = engine.cli("exec", "mdit-no-such-container", "true", check=False)
    assert missing.returncode == 1 and "No such container: mdit-no-such-container" in missing.stderr
    stopped = names()
    engine.cli("create", "--name", stopped, busybox, "true")
    refused = engine.cli("exec", stopped, "true", check=False)
    assert refused.returncode == 1 and "is not running" in refused.stderr
    assert "the input device is not a TTY" in engine.cli("exec", "-it", name, "true", input="", check=False).stderr


@pytest.mark.spec("ENGINE-CLI-024", "ENGINE-CLI-022", "ENGINE-CLI-023")
def test_exec_it_is_an_interactive_terminal(engine, spawn, busybox, names):
    name = names()
    engine.cli("run", "-d", "--name", name, busybox, "sleep", "60")
    child = spawn("exec", "-it", name, "sh")
    _shell_works(child)
    child.sendline("tty; exit 6")
    child.expect("/dev/pts/")
    _exits(child, 6)
    leaving = spawn("exec", "-it", name, "sh")
    leaving.expect(r"# ")
    leaving.send("\x10\x11")
    leaving.expect("read escape sequence")
    _exits(leaving, 1)
    assert engine.cli("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"


# -- health checks -------------------------------------------------------------------------------

def _status(engine, name: str) -> str:
    return engine.cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}").stdout.strip()


@pytest.mark.spec("ENGINE-HLT-001", "ENGINE-HLT-002", "ENGINE-CLI-025")
def test_health_cmd_makes_a_container_healthy(engine, busybox, names):
    name = names()
    engine.cli("run", "-d", "--name", name, "--health-cmd", "true", "--health-interval", "1s",
               busybox, "sleep", "60")
    assert _eventually(lambda: "(healthy)" in _status(engine, name)), _status(engine, name)
    document = json.loads(engine.cli("inspect", name).stdout)[0]
    assert document["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert document["Config"]["Healthcheck"]["Interval"] == 1_000_000_000
    health = document["State"]["Health"]
    assert health["Status"] == "healthy" and health["FailingStreak"] == 0
    assert 1 <= len(health["Log"]) <= 5 and health["Log"][-1]["ExitCode"] == 0


@pytest.mark.spec("ENGINE-HLT-001", "ENGINE-HLT-002", "ENGINE-CLI-025")
def test_failing_health_cmd_makes_it_unhealthy(engine, busybox, names):
    name = names()
    engine.cli("run", "-d", "--name", name, "--health-cmd", "false", "--health-retries", "1",
               "--health-interval", "500ms", busybox, "sleep", "60")
    assert _eventually(lambda: "(unhealthy)" in _status(engine, name)), _status(engine, name)
    health = json.loads(engine.cli("inspect", "-f", "{{json .State.Health}}", name).stdout)
    assert health["Status"] == "unhealthy" and health["FailingStreak"] >= 1
    assert health["Log"][-1]["ExitCode"] == 1


@pytest.mark.spec("ENGINE-CLI-025", "ENGINE-CLI-013")
def test_health_flags_as_docker_sends_and_refuses_them(engine, busybox, names):
    name = names()
    engine.cli("create", "--name", name, "--health-cmd", "exit 0", "--health-interval", "1m30s",
               "--health-timeout", "500ms", "--health-start-period", "2s", "--health-retries", "4", busybox)
    check = json.loads(engine.cli("inspect", "-f", "{{json .Config.Healthcheck}}", name).stdout)
    assert check == {"Test": ["CMD-SHELL", "exit 0"], "Interval": 90_000_000_000, "Timeout": 500_000_000,
                     "StartPeriod": 2_000_000_000, "Retries": 4}
    none = names()
    engine.cli("create", "--name", none, "--no-healthcheck", busybox)
    assert json.loads(engine.cli("inspect", "-f", "{{json .Config.Healthcheck}}", none).stdout)["Test"] == ["NONE"]
    bad = engine.cli("run", "--rm", "--health-interval", "5", busybox, "true", check=False)
    assert bad.returncode == 125
    assert 'invalid argument "5" for "--health-interval" flag: time: missing unit in duration "5"' in bad.stderr
    both = engine.cli("create", "--no-healthcheck", "--health-cmd", "true", busybox, check=False)
    assert both.returncode == 125 and "--no-healthcheck conflicts with --health-* options" in both.stderr


@pytest.mark.spec("ENGINE-TTY-005")
def test_other_detach_keys(engine, spawn, busybox, names):
    name = names()
    child = spawn("run", "--name", name, "-it", "--detach-keys", "ctrl-a,x", busybox, "sh")
    child.expect(r"# ")
    child.send("\x10\x11")  # the default sequence is now plain input
    child.sendline("echo still$((2+3))")
    child.expect("still5")
    child.send("\x01x")  # ctrl-a x
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert engine.cli("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
    again = spawn("attach", "--detach-keys=ctrl-],ctrl-_", name)
    again.sendline("echo back")
    again.expect("back")
    again.send("\x1d\x1f")
    again.expect("read escape sequence")
    _exits(again, 1)
    # from a terminal, as a user types it: without one, the docker CLI stops first at
    # "the input device is not a TTY" (the container has a terminal); and it shows only the
    # refused upgrade's status where ours shows the daemon's reason (ENGINE-TTY-005)
    bad = spawn("attach", "--detach-keys", "ctrl-1", name)
    bad.expect(r"Invalid detach keys \(ctrl-1\) provided" if engine.kind == "minidock"
               else "unable to upgrade to tcp, received 400")
    bad.expect(pexpect.EOF)
    bad.close()
    assert bad.exitstatus != 0
    status, _, raw = engine.api("POST", f"/v1.41/containers/{name}/attach?stream=1&stdin=1&detachKeys=ctrl-%3F")
    assert status == 400 and b"Invalid detach keys (ctrl-?) provided" in raw
