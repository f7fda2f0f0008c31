"""Which process is doing this, is it still there, and what a termination signal does meanwhile.

A run record (an MLflow run, a stage marker) names its process by ``pid``, a ``host`` id
(a hash of the host name and PID namespace: the same for every process that shares
this machine's process table, and nothing readable) and a ``start`` token (boot and
start time), so a later process can tell for certain that the writer is gone even when
the pid has been reused. A record from another host is never judged.

``signals_raise`` turns SIGTERM, SIGINT and SIGHUP into an ``Interrupted`` exception for
the duration of a block (main thread only), so the block can close what it opened;
``redeliver`` then lets the signal do what it would have done.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

INTERRUPTS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)


def _digest(text: str, length: int) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def host_id() -> str:
    """A short hash of the host name and the PID namespace (no name, user or path in it)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return _digest(f"{socket.gethostname()}\0{namespace}", 12)


def start_token(pid: int) -> str:
    """When process ``pid`` started: boot id hash and start time in clock ticks ('' where unknown)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = stat.rsplit(")", 1)[1].split()[
            19
        ]  # field 22 (starttime); fields after ")" start at 3
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except (OSError, IndexError):
        return ""
    return f"{_digest(boot, 8)}-{ticks}"


def this_process() -> dict[str, str]:
    """``pid``, ``host`` and ``start`` of the calling process."""
    pid = os.getpid()
    return {"pid": str(pid), "host": host_id(), "start": start_token(pid)}


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def is_gone(pid: str | int | None, host: str | None, start: str | None = None) -> bool:
    """True when the process is known to have ended: same host, and no such pid (or another process has it).

    False whenever that cannot be known for certain (another host, an unreadable pid).
    """
    if not host or host != host_id():
        return False
    try:
        number = int(pid or 0)
    except ValueError:
        return False
    if number <= 0:
        return False
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists and belongs to someone else
    if start:
        now = start_token(number)
        if now and now != start:
            return True  # the pid was reused
    return _is_zombie(number)


class Interrupted(BaseException):
    """A termination signal arrived while a block that must close what it opened was running."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise(
    handler: Callable[[int, FrameType | None], None] = _raise_interrupted,
) -> Iterator[None]:
    """Handle SIGTERM, SIGINT and SIGHUP with ``handler`` (by default: raise ``Interrupted``) inside the block.

    Only in the main thread (elsewhere signals cannot be handled; the block runs as is). A
    signal that is ignored (``nohup``) stays ignored; the previous handlers come back on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in INTERRUPTS:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)


def redeliver(signum: int) -> None:
    """Raise ``signum`` again now that the block is closed: its own action (by default the process ends)."""
    if threading.current_thread() is threading.main_thread():
        signal.raise_signal(signum)


def die_with_parent(signum: int = signal.SIGTERM) -> bool:
    """Ask Linux to send ``signum`` to this process when its parent ends (``PR_SET_PDEATHSIG``).

    Returns False where that is not available. If the parent has already gone, the signal is
    raised at once.
    """
    setter = pdeathsig_setter(signum)
    if setter is None:
        return False
    parent = os.getppid()
    setter()
    if parent == 1 or os.getppid() != parent:
        signal.raise_signal(signum)
    return True


def pdeathsig_setter(signum: int) -> Callable[[], None] | None:
    """A function that sets the calling process's parent-death signal (None outside Linux).

    Resolved here, so that a ``preexec_fn`` in a freshly forked child only makes the call.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_signal() -> None:
        prctl(pr_set_pdeathsig, int(signum), 0, 0, 0)

    return set_signal
