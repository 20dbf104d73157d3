"""The container's terminal: a pty made inside the container, its master handed to the monitor.

Implements: spec/runtime.md RT-TTY-001 .. RT-TTY-003, RT-SHIM-003
Explained:  chapters/03-runtime.md#terminals
Modelled on: runc's console handling (the pty is opened from the container's own
             devpts instance; the master travels over a unix socket with SCM_RIGHTS)

    open_pty()                     in init, after pivot_root: (master, slave) from /dev/ptmx
    send_master(sock, master)      init → monitor, one fd over a socketpair
    connect_console(path)          a shim's --console-socket: where the master goes instead
    send_console(sock, master)     the master to that shim, as runc sends it
    receive_master(sock) -> fd     the monitor's side
    make_controlling(slave)        in init, before exec: new session, the slave is its terminal
    proxy(master, stdin, stdout)   the monitor's copy loop for a foreground `run`

socket, threading, termios and tty are imported by the functions that use them, not
at the top: a container without a terminal never needs them, and init, which imports
this module, cannot import them after pivot_root (minidock/runtime/__init__.py, Start-up).

Why inside: opened from the host's /dev/ptmx, the slave would be /dev/pts/N of
the host's devpts, a name that does not exist in the container's /dev/pts
(`tty` would print a path that isn't there).
"""

from __future__ import annotations

import fcntl
import os
import struct

TYPE_CHECKING = False  # as typing.TYPE_CHECKING, which a start does not import (minidock/records.py)
if TYPE_CHECKING:
    import socket
    import threading

# ioctl numbers from <asm-generic/ioctls.h> (the same on x86_64 and arm64): Python's
# termios does not export the first two, and the others are here so that a start
# without a terminal need not import termios for them
TIOCGPTN = 0x80045430    # get the pty number of a master
TIOCSPTLCK = 0x40045431  # lock/unlock the slave
TIOCSCTTY = 0x540E       # make this terminal the session's controlling terminal
TIOCGWINSZ = 0x5413      # get the window size
TIOCSWINSZ = 0x5414      # set the window size (the foreground process group gets SIGWINCH)


def open_pty() -> tuple[int, int]:
    """Open a new pty pair from this mount namespace's /dev/ptmx."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt(3)
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, struct.pack("I", 0)))[0]
    slave = os.open(f"/dev/pts/{number}", os.O_RDWR | os.O_NOCTTY)
    return master, slave


def send_master(sock: socket.socket, master: int) -> None:
    """Pass the master fd to the monitor (unix(7): SCM_RIGHTS)."""
    # found in sys.modules, not on disk: we run after pivot_root, where the host's Python
    # library is out of reach, but the monitor imported socket to make the pair before forking
    import socket

    socket.send_fds(sock, [b"pty"], [master])


def connect_console(path: str) -> socket.socket:
    """Connect to a shim's console socket (`create --console-socket PATH`, as runc's)."""
    import socket

    from minidock.errors import InvalidArgument

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as error:
        sock.close()
        raise InvalidArgument(f"cannot connect to the console socket {path}: {error.strerror}") from None
    return sock


def send_console(sock: socket.socket, master: int) -> None:
    """[RT-SHIM-003] Hand the pty master to the shim as runc does: one message, the fd in SCM_RIGHTS."""
    import socket

    socket.send_fds(sock, [b"/dev/ptmx"], [master])


def receive_master(sock: socket.socket) -> int:
    """Receive the master fd init sent."""
    import socket

    _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    if not fds:
        raise OSError("init sent no terminal")
    return fds[0]


def make_controlling(slave: int) -> None:
    """Start a new session whose controlling terminal is ``slave``; make it fds 0-2."""
    os.setsid()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def copy_window_size(source: int, master: int) -> None:
    """Give the container's terminal the size of ours (TIOCGWINSZ → TIOCSWINSZ)."""
    try:
        size = fcntl.ioctl(source, TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, TIOCSWINSZ, size)
    except OSError:
        pass  # not a terminal: keep the kernel's default


def set_window_size(master: int, rows: int, columns: int) -> None:
    """TIOCSWINSZ: the kernel tells the foreground process group (SIGWINCH)."""
    fcntl.ioctl(master, TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def proxy(master: int, stdin: int = 0, stdout: int = 1) -> threading.Thread:
    """Copy stdin → master and master → stdout until the container's side closes.

    Returns the output thread; join it after the container exits to drain
    what it printed last. Our terminal is put in raw mode meanwhile, so keys
    like Ctrl-C reach the container's line discipline instead of ours.
    """
    import _signal as signal  # what signal wraps in enum classes: the same calls (__init__.py)
    import select
    import termios
    import threading
    import tty

    saved = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin)
        copy_window_size(stdin, master)
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(stdin, master))

    def output() -> None:
        try:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed
                    break
                if not data:
                    break
                os.write(stdout, data)
        finally:
            if saved is not None:
                termios.tcsetattr(stdin, termios.TCSADRAIN, saved)

    def input_() -> None:
        while True:
            try:
                ready, _, _ = select.select([stdin], [], [], 0.2)
                if not ready:
                    continue
                data = os.read(stdin, 65536)
                if not data:
                    return
                os.write(master, data)
            except OSError:
                return

    threading.Thread(target=input_, daemon=True).start()
    thread = threading.Thread(target=output, daemon=True)
    thread.start()
    return thread
