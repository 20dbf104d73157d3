"""Input and terminals through the real docker CLI: `run -i`, `run -it`, `exec -it`, detach keys.

pexpect gives the docker CLI a terminal of its own, as a user's shell would.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

pexpect = pytest.importorskip("pexpect")


@pytest.fixture
def docker(engine):
    path = shutil.which("docker")
    if path is None:
        pytest.skip("the docker CLI is not on the PATH")

    def spawn(*args: str):
        child = pexpect.spawn(path, ["-H", engine.host, *args], encoding="utf-8", timeout=20,
                              env={**os.environ, "TERM": "xterm"})
        child.setwinsize(24, 80)
        return child

    return spawn


def _shell_works(child) -> None:
    """A prompt, arithmetic, the window size we set, Ctrl-C that stops a foreground job."""
    child.expect(r"# ")
    child.sendline("echo $((6*7))")
    child.expect("42")
    child.expect(r"# ")
    child.setwinsize(33, 101)
    time.sleep(0.3)  # the CLI sends the new size on SIGWINCH
    child.sendline("stty size")
    child.expect("33 101")
    child.expect(r"# ")
    child.sendline("sleep 30")
    time.sleep(0.5)
    child.sendintr()
    child.expect(r"# ", timeout=5)


@pytest.mark.spec("ENGINE-TTY-001", "RT-MON-005")
def test_run_with_piped_stdin(engine, busybox):
    result = engine.docker_cli("run", "--rm", "-i", busybox, "sh", "-c", "cat; echo done",
                               input="line one\nline two\n")
    assert result.stdout == "line one\nline two\ndone\n"


@pytest.mark.spec("ENGINE-TTY-001", "ENGINE-TTY-002", "RT-MON-005")
def test_run_it_gives_an_interactive_shell(docker, busybox):
    child = docker("run", "--rm", "-it", busybox, "sh")
    _shell_works(child)
    child.sendline("exit 3")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3


@pytest.mark.spec("ENGINE-TTY-003")
def test_detach_keys_leave_the_container_running(engine, docker, busybox):
    child = docker("run", "--name", "md-detach-test", "-it", busybox, "sh")
    try:
        child.expect(r"# ")
        child.send("\x10\x11")  # ctrl-p ctrl-q
        child.expect(pexpect.EOF)
        child.close()
        status = engine.docker_cli("inspect", "-f", "{{.State.Status}}", "md-detach-test").stdout.strip()
        assert status == "running"
        again = docker("attach", "md-detach-test")
        again.sendline("echo back$((1+1))")
        again.expect("back2")
        again.sendline("exit 4")
        again.expect(pexpect.EOF)
        again.close()
        assert again.exitstatus == 4
    finally:
        engine.docker_cli("rm", "-f", "md-detach-test", check=False)


@pytest.mark.spec("ENGINE-TTY-002", "RT-EXEC-004")
def test_exec_it_and_exec_i(engine, docker, busybox):
    engine.docker_cli("run", "-d", "--name", "md-exec-tty-test", busybox, "sleep", "100")
    try:
        child = docker("exec", "-it", "md-exec-tty-test", "sh")
        _shell_works(child)
        child.sendline("tty; exit 6")
        child.expect("/dev/pts/")  # a terminal of the container's own devpts
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 6
        piped = engine.docker_cli("exec", "-i", "md-exec-tty-test", "sh", "-c", "cat; echo fin", input="a\nb\n")
        assert piped.stdout == "a\nb\nfin\n"
    finally:
        engine.docker_cli("rm", "-f", "md-exec-tty-test", check=False)
