"""Conformance: the container verbs of the CLI (run, ps, logs, inspect, rm, ...), ours and docker's.

Black-box: `engine.cli` (minidock's CLI, or docker's under --engine=docker) and
`engine.docker_cli` (the real docker CLI against the same engine); every container a
test makes has a name from the `names` fixture, which removes them all at the end.
The pure parts (sizes, --cpus, the create body) are unit tests at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import time
from typing import Callable, Iterator

import pytest

HEX_ID = re.compile(r"^[0-9a-f]{64}$")


@pytest.fixture
def names(engine, busybox) -> Iterator[Callable[[], str]]:
    """A maker of unique container names; every container so named is removed afterwards."""
    made: list[str] = []

    def new() -> str:
        name = f"mdcli-{secrets.token_hex(4)}"
        made.append(name)
        return name

    yield new
    for name in made:
        engine.api("DELETE", f"/containers/{name}?force=1")


def _clis(engine) -> list:
    """Our CLI and the real docker CLI, both against the engine under test."""
    return [engine.cli, engine.docker_cli]


def _eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


# -- run ---------------------------------------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-010")
def test_run_prints_both_streams_and_exits_with_the_containers_code(engine, busybox, names):
    result = engine.cli("run", "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert engine.cli("run", "--rm", busybox, "true").returncode == 0


@pytest.mark.spec("ENGINE-CLI-010")
def test_run_rm_removes_the_container(engine, busybox, names):
    name = names()
    assert engine.cli("run", "--rm", "--name", name, busybox, "echo", "hi").stdout == "hi\n"
    status, _, _ = engine.api("GET", f"/containers/{name}/json")
    assert status == 404


@pytest.mark.spec("ENGINE-CLI-010", "ENGINE-CLI-020")
def test_run_through_the_docker_cli_gives_the_same(engine, busybox, names):
    outcomes = []
    for cli in _clis(engine):
        name = names()  # not --rm: minidockd's AutoRemove may drop the last lines (issue 5)
        result = cli("run", "--name", name, busybox, "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
        outcomes.append((result.returncode, result.stdout, result.stderr))
    assert outcomes[0] == outcomes[1] == (3, "out\n", "err\n")


@pytest.mark.spec("ENGINE-CLI-012")
def test_run_flags_reach_the_container(engine, busybox, names, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nB=from-file\n\n")
    script = 'echo "$A $B"; pwd; id -u; hostname; cat /proc/self/status | grep -c CapEff'
    out = engine.cli("run", "--rm", "-e", "A=one", "--env-file", env_file, "-w", "/tmp", "-u", "1000",
                     "-h", "myhost", busybox, "sh", "-c", script).stdout.splitlines()
    assert out[:4] == ["one from-file", "/tmp", "1000", "myhost"]
    assert engine.cli("run", "--rm", "--entrypoint", "echo", busybox, "via", "entrypoint").stdout == "via entrypoint\n"
    # -t: one raw stream from a terminal, which writes \r\n
    tty = engine.cli("run", "--rm", "-t", busybox, "sh", "-c", "tty >/dev/null && echo a-tty", input=b"")
    assert tty.stdout == b"a-tty\r\n"  # bytes: text mode would fold the \r\n


@pytest.mark.spec("ENGINE-CLI-011", "ENGINE-CLI-012")
def test_create_sends_limits_and_settings_as_docker_does(engine, busybox, names):
    name = names()
    result = engine.cli("create", "--name", name, "-m", "64m", "--memory-swap", "128m", "--cpus", "1.5",
                        "-c", "512", "--cpuset-cpus", "0", "--pids-limit", "50", "--read-only",
                        "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--network", "none",
                        "-l", "k=v", "-l", "bare", "--stop-signal", "USR1", busybox, "true")
    assert HEX_ID.match(result.stdout.strip())
    document = json.loads(engine.cli("inspect", name).stdout)[0]
    assert document["Id"] == result.stdout.strip()
    assert document["State"]["Status"] == "created"
    host = document["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"]) == (64 << 20, 128 << 20, 1_500_000_000)
    assert (host["CpuShares"], host["CpusetCpus"], host["PidsLimit"]) == (512, "0", 50)
    assert host["ReadonlyRootfs"] is True and host["NetworkMode"] == "none"
    assert host["CapAdd"] == ["CAP_NET_ADMIN"] and host["CapDrop"] == ["CAP_CHOWN"]  # named as docker's CLI does
    assert document["Config"]["Labels"] == {"k": "v", "bare": ""}
    assert document["Config"]["StopSignal"] == "USR1"


@pytest.mark.spec("ENGINE-CLI-013", "ENGINE-CLI-020")
def test_bad_input_is_refused_with_125_and_dockers_words(engine, busybox, names):
    taken = names()
    engine.cli("create", "--name", taken, busybox, "true")
    for cli in _clis(engine):
        bad_size = cli("run", "-m", "12x", busybox, "true", check=False)
        assert bad_size.returncode == 125
        assert """invalid argument "12x" for "-m, --memory" flag: invalid suffix: 'x'""" in bad_size.stderr
        bad_name = cli("run", "--name", "a b", busybox, "true", check=False)
        assert bad_name.returncode == 125
        assert "Invalid container name (a b)" in bad_name.stderr
        used = cli("run", "--name", taken, busybox, "true", check=False)
        assert used.returncode == 125
        assert f'The container name "/{taken}" is already in use' in used.stderr
        missing = cli("run", "--rm", "mdcli-no-such-image", "true", check=False)
        assert missing.returncode == 125
        assert "Unable to find image 'mdcli-no-such-image:latest' locally" in missing.stderr
        assert "Error response from daemon:" in missing.stderr


@pytest.mark.spec("ENGINE-CLI-013")
def test_a_start_that_fails_exits_125_and_run_rm_leaves_nothing(engine, busybox, names):
    for detach in ([], ["-d"]):
        name = names()
        result = engine.cli("run", *detach, "--rm", "--name", name, "-u", "mdcli-nobody", busybox, "true",
                            check=False)
        assert result.returncode == 125
        assert "unable to find user mdcli-nobody" in result.stderr
        assert engine.cli("ps", "-a", "-q", "--filter", f"name={name}").stdout == ""


@pytest.mark.spec("ENGINE-CLI-013", "ENGINE-CLI-020")
def test_usage_errors_exit_as_dockers_do(engine):
    for cli in _clis(engine):
        missing = cli("rm", check=False)
        assert missing.returncode == 1 and "requires at least 1 argument" in missing.stderr
        unknown = cli("ps", "--no-such-flag", check=False)
        assert unknown.returncode == 125 and "unknown flag: --no-such-flag" in unknown.stderr


# -- run -d, logs, stop, rm --------------------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-011", "ENGINE-CLI-017", "ENGINE-CLI-018")
def test_detached_run_logs_stop_and_rm(engine, busybox, names):
    name = names()
    result = engine.cli("run", "-d", "--name", name, busybox, "sh", "-c",
                        "echo hello; echo oops >&2; sleep 0.3; echo more; exec sleep 60")
    assert HEX_ID.match(result.stdout.strip())
    _eventually(lambda: "more" in engine.cli("logs", name).stdout)
    logs = engine.cli("logs", name)
    assert (logs.stdout, logs.stderr) == ("hello\nmore\n", "oops\n")
    assert engine.cli("logs", "--tail", "1", name).stdout == "more\n"
    stamped = engine.cli("logs", "-t", name).stdout.splitlines()
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z hello$", stamped[0])
    assert engine.cli("logs", "--since", "1h", name).stdout == "hello\nmore\n"
    assert engine.cli("logs", "--until", "2000-01-01T00:00:00Z", name).stdout == ""
    docker_logs = engine.docker_cli("logs", name)
    assert (docker_logs.stdout, docker_logs.stderr) == ("hello\nmore\n", "oops\n")
    assert engine.cli("stop", "-t", "1", name).stdout == f"{name}\n"
    assert engine.cli("ps", "-a", "--filter", f"name={name}", "--format", "{{.State}}").stdout == "exited\n"
    assert engine.cli("rm", name).stdout == f"{name}\n"
    assert engine.cli("inspect", name, check=False).returncode == 1


@pytest.mark.spec("ENGINE-CLI-017")
def test_logs_follow_ends_when_the_container_does(engine, busybox, names):
    name = names()
    engine.cli("run", "-d", "--name", name, busybox, "sh", "-c", "echo one; sleep 1; echo two")
    result = engine.cli("logs", "-f", name, timeout=30)
    assert result.stdout == "one\ntwo\n"


@pytest.mark.spec("ENGINE-CLI-018", "ENGINE-CLI-020")
def test_rm_of_a_running_container_needs_force(engine, busybox, names):
    for cli in _clis(engine):
        name = names()
        cli("run", "-d", "--name", name, busybox, "sleep", "60")
        refused = cli("rm", name, check=False)
        assert refused.returncode == 1
        assert "You cannot remove a running container" in refused.stderr
        assert cli("rm", "-f", name).stdout == f"{name}\n"


@pytest.mark.spec("ENGINE-CLI-018", "ENGINE-CLI-016", "ENGINE-CLI-020")
def test_an_unknown_container_is_named_in_dockers_words(engine, busybox, names):
    name = names()
    engine.cli("create", "--name", name, busybox, "true")
    for cli in _clis(engine):
        for verb in (["stop"], ["kill"], ["rm"], ["restart"], ["pause"], ["logs"], ["wait"], ["top"]):
            result = cli(*verb, "mdcli-nosuch", check=False)
            assert result.returncode == 1, (verb, result)
            # Docker's router wraps kill's refusals: "Cannot kill container: NAME: No such container: NAME"
            words = "Cannot kill container: mdcli-nosuch: " if verb == ["kill"] else ""
            assert f"Error response from daemon: {words}No such container: mdcli-nosuch" in result.stderr, verb
        both = cli("rm", "mdcli-nosuch", name, check=False)
        assert both.returncode == 1 and both.stdout == f"{name}\n"  # the others are still done
        forced = cli("rm", "-f", "mdcli-nosuch", check=False)  # -f: said, but no failure
        assert forced.returncode == 0 and "No such container: mdcli-nosuch" in forced.stderr
        name = names()
        engine.cli("create", "--name", name, busybox, "true")
        inspect = cli("inspect", "mdcli-nosuch", check=False)
        assert inspect.returncode == 1
        assert "Error: No such object: mdcli-nosuch" in inspect.stderr


# -- ps ----------------------------------------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-014", "ENGINE-CLI-020")
def test_ps_shows_dockers_columns_and_cuts(engine, busybox, names):
    name = names()
    container_id = engine.cli("run", "-d", "--name", name, "-l", "tier=web", busybox,
                              "sh", "-c", "sleep 60; echo a long command line").stdout.strip()
    ours = engine.cli("ps").stdout.splitlines()
    assert re.match(r"^CONTAINER ID   IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$", ours[0])
    row = next(line for line in ours if line.endswith(name))
    assert row.startswith(container_id[:12] + "   ")
    assert '"sh -c \'sleep 60; ec…"' in row  # the daemon quotes an argument with a space in it
    assert "Up " in row
    # the docker CLI shows the same cells (CREATED and STATUS may tick between the two calls)
    cells = [[re.split(r" {3,}", line) for line in cli("ps", "--filter", f"name={name}").stdout.splitlines()]
             for cli in _clis(engine)]
    assert cells[0][0] == cells[1][0]
    assert cells[0][1][:3] + cells[0][1][-1:] == cells[1][1][:3] + cells[1][1][-1:]
    assert engine.cli("ps", "-q", "--filter", f"name={name}").stdout == container_id[:12] + "\n"
    assert engine.cli("ps", "-q", "--no-trunc", "--filter", "label=tier=web",
                      "--filter", f"name={name}").stdout == container_id + "\n"
    # -l and -n count what the filters keep (a daemon shared by parallel tests, as a real
    # dockerd is, has newer containers of theirs): a later one of ours, created, not started
    later = engine.cli("create", "--name", f"{name}-later", busybox, "true").stdout.strip()
    try:
        assert engine.cli("ps", "-l", "-q", "--no-trunc", "--filter", f"name={name}").stdout == later + "\n"
        assert engine.cli("ps", "-n", "2", "-q", "--filter", f"name={name}").stdout == \
            f"{later[:12]}\n{container_id[:12]}\n"
    finally:
        engine.cli("rm", "-f", later, check=False)
    assert engine.cli("ps", "-q", "--filter", f"name={name}", "--filter", "status=exited").stdout == ""
    full = engine.cli("ps", "--no-trunc", "--filter", f"name={name}", "--format", "{{.ID}} {{.Command}}").stdout
    assert full == engine.docker_cli("ps", "--no-trunc", "--filter", f"name={name}",
                                     "--format", "{{.ID}} {{.Command}}").stdout
    assert full.startswith(container_id) and "a long command line" in full


@pytest.mark.spec("ENGINE-CLI-015", "ENGINE-CLI-020")
def test_ps_format_matches_the_docker_cli(engine, busybox, names):
    name = names()
    engine.cli("run", "-d", "--name", name, "-l", "tier=web", busybox, "sleep", "60")
    formats = ['{{.ID}} {{.Names}} {{.Image}} {{.State}} {{.Command}} {{.Label "tier"}} {{.Labels}}',
               "table {{.Names}}\\t{{.State}}\\t{{.Ports}}",
               "{{.Names}}\t{{upper .State}}",
               "{{if eq .State \"running\"}}up{{else}}down{{end}} {{len .Names}}"]
    for form in formats:
        ours = engine.cli("ps", "--filter", f"name={name}", "--format", form).stdout
        theirs = engine.docker_cli("ps", "--filter", f"name={name}", "--format", form).stdout
        assert ours == theirs, form
    row = json.loads(engine.cli("ps", "--filter", f"name={name}", "--format", "{{json .}}").stdout)
    assert (row["Names"], row["State"], row["Labels"]) == (name, "running", "tier=web")
    assert set(row) >= {"ID", "Image", "Command", "CreatedAt", "RunningFor", "Status", "Ports"}
    again = json.loads(engine.cli("ps", "--filter", f"name={name}", "--format", "json").stdout)
    assert (again["ID"], again["Names"]) == (row["ID"], row["Names"])


# -- inspect -----------------------------------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-015", "ENGINE-CLI-016", "ENGINE-CLI-020")
def test_inspect_and_its_format(engine, busybox, names):
    name = names()
    container_id = engine.cli("create", "--name", name, "-l", "k=v", "-e", "A=1", busybox, "true").stdout.strip()
    documents = json.loads(engine.cli("inspect", name).stdout)
    assert [d["Id"] for d in documents] == [container_id]
    form = '{{.State.Status}} {{.Name}} {{.Id}} {{json .Config.Labels}} {{index .Config.Labels "k"}}'
    ours = engine.cli("inspect", "-f", form, name).stdout
    assert ours == f"created /{name} {container_id} {{\"k\":\"v\"}} v\n"
    assert engine.docker_cli("inspect", "-f", form, name).stdout == ours
    nulls = "{{.Config.Entrypoint}} {{.Config.Volumes}} {{.State.Health}} {{json .Config.Entrypoint}}"
    assert engine.cli("inspect", "-f", nulls, name).stdout == engine.docker_cli("inspect", "-f", nulls, name).stdout
    config = json.loads(engine.cli("inspect", "--format", "{{json .Config}}", name).stdout)
    assert config["Labels"] == {"k": "v"} and "A=1" in config["Env"]
    env = "{{range .Config.Env}}{{if eq . \"A=1\"}}found{{end}}{{end}}"
    assert engine.cli("inspect", "-f", env, name).stdout == "found\n"
    image = json.loads(engine.cli("inspect", busybox).stdout)[0]  # not a container: the image
    assert busybox in image["RepoTags"]
    two = engine.cli("inspect", "-f", "{{.Name}}", name, "mdcli-nosuch", check=False)
    assert (two.returncode, two.stdout) == (1, f"/{name}\n")


# -- wait, start -a, attach, and the other verbs -------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-019", "ENGINE-CLI-011")
def test_wait_start_attach_and_exit_codes(engine, busybox, names):
    name = names()
    container_id = engine.cli("create", "--name", name, busybox, "sh", "-c", "echo hi; exit 4").stdout.strip()
    assert engine.cli("ps", "-a", "-q", "--no-trunc", "--filter", f"name={name}").stdout == container_id + "\n"
    started = engine.cli("start", "-a", name, check=False)
    assert (started.returncode, started.stdout) == (4, "hi\n")
    assert engine.cli("wait", name).stdout == "4\n"
    assert engine.cli("start", name).stdout == f"{name}\n"
    assert engine.cli("wait", name).stdout == "4\n"
    other = names()
    engine.cli("run", "-d", "--name", other, busybox, "sh", "-c", "sleep 1; echo bye; exit 5")
    attached = engine.cli("attach", other, check=False, timeout=30)
    assert (attached.returncode, attached.stdout) == (5, "bye\n")


@pytest.mark.spec("ENGINE-CLI-018")
def test_pause_restart_rename_top_kill(engine, busybox, names):
    name, renamed = names(), names()
    engine.cli("run", "-d", "--name", name, busybox, "sleep", "60")
    assert engine.cli("pause", name).stdout == f"{name}\n"
    assert "(Paused)" in engine.cli("ps", "--filter", f"name={name}", "--format", "{{.Status}}").stdout
    assert engine.cli("unpause", name).stdout == f"{name}\n"
    top = engine.cli("top", name).stdout.splitlines()
    assert top[0].split()[:2] == ["UID", "PID"] and "sleep 60" in top[1]
    engine.cli("rename", name, renamed)
    assert engine.cli("restart", "-t", "0", renamed).stdout == f"{renamed}\n"
    assert engine.cli("ps", "--filter", f"name={renamed}", "--format", "{{.State}}").stdout == "running\n"
    assert engine.cli("kill", renamed).stdout == f"{renamed}\n"
    assert engine.cli("wait", renamed).stdout == "137\n"
    assert engine.cli("port", renamed).stdout == ""
    assert engine.cli("container", "ls", "-a", "-q", "--filter", f"name={renamed}").stdout.strip()
    assert engine.cli("container", "rm", renamed).stdout == f"{renamed}\n"


# -- the pure parts ----------------------------------------------------------------------------

@pytest.mark.spec("ENGINE-CLI-012", "ENGINE-CLI-013")
@pytest.mark.parametrize("text, size", [("512m", 512 << 20), ("1g", 1 << 30), ("100k", 100 << 10),
                                        ("4096", 4096), ("1.5GiB", 3 << 29), ("10 MB", 10 << 20), ("7b", 7)])
def test_sizes_are_read_as_docker_reads_them(text, size):
    from minidock.cli.run_options import ram_in_bytes

    assert ram_in_bytes(text) == size


@pytest.mark.spec("ENGINE-CLI-013")
@pytest.mark.parametrize("text, message", [("12x", "invalid suffix: 'x'"), ("abc", "invalid size: 'abc'"),
                                           ("-5m", "invalid size: '-5m'"), ("1kbx", "invalid suffix: 'kbx'")])
def test_bad_sizes_have_dockers_words(text, message):
    from minidock.cli.run_options import ram_in_bytes

    with pytest.raises(ValueError, match=re.escape(message)):
        ram_in_bytes(text)


@pytest.mark.spec("ENGINE-CLI-012")
def test_the_create_body_has_dockers_fields():
    from minidock.cli.run_options import FlagError, add_flags, create_body, nano_cpus

    parser = argparse.ArgumentParser(add_help=False)
    add_flags(parser)
    args = parser.parse_args(["--rm", "-e", "A=1", "-e", "HOME", "-e", "UNSET", "--cpus", "0.5", "-t",
                              "--restart", "on-failure:3", "busybox", "sh", "-c", "echo -e x"])
    body = create_body(args, {"HOME": "/root"}, detach=False)
    assert body["Cmd"] == ["sh", "-c", "echo -e x"] and body["Image"] == "busybox"
    assert body["Env"] == ["A=1", "HOME=/root", "UNSET"]
    assert body["Tty"] is True and body["AttachStdout"] is True
    assert body["HostConfig"]["NanoCpus"] == 500_000_000 and body["HostConfig"]["AutoRemove"] is True
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert nano_cpus("1.5") == 1_500_000_000
    with pytest.raises(FlagError, match='invalid argument "x" for "--cpus" flag'):
        create_body(parser.parse_args(["--cpus", "x", "busybox"]), {})


@pytest.mark.spec("ENGINE-CLI-017")
def test_frames_are_split_to_stdout_and_stderr():
    import io

    from minidock.cli.streams import copy_output

    def frame(stream: int, data: bytes) -> bytes:
        return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data

    out, err = io.BytesIO(), io.BytesIO()
    copy_output(io.BytesIO(frame(1, b"one\n") + frame(2, b"oops\n") + frame(1, b"two\n")), False, out, err)
    assert (out.getvalue(), err.getvalue()) == (b"one\ntwo\n", b"oops\n")
    out = io.BytesIO()
    copy_output(io.BytesIO(b"\x01raw tty bytes\r\n"), True, out, io.BytesIO())
    assert out.getvalue() == b"\x01raw tty bytes\r\n"


@pytest.mark.spec("ENGINE-CLI-017")
def test_since_values_are_sent_as_docker_sends_them():
    from minidock.cli.streams import parse_timestamp

    assert parse_timestamp("10m", now=1000.0) == "400"
    assert parse_timestamp("1h30m", now=10000.0) == "4600"
    assert parse_timestamp("1700000000") == "1700000000"
    assert parse_timestamp("2023-11-14T22:13:20Z") == "1700000000.000000000"
    with pytest.raises(Exception, match="failed to parse"):
        parse_timestamp("yesterday")


@pytest.mark.spec("ENGINE-CTR-016", "ENGINE-CLI-012")
def test_run_init_puts_an_init_first(engine, busybox):
    out = engine.cli("run", "--rm", "--init", busybox, "ps", "-o", "pid,args").stdout.splitlines()
    assert out[1].split()[:2] == ["1", "/sbin/docker-init"] and out[2].split()[1] == "ps"
