"""Keeping the calling thread's signal stack (`sigaltstack`) across OpenVINO calls.

OpenVINO's CPU plugin (2026.4) installs a signal stack of its own on the thread that compiles a model and puts
back, when that compiled model is freed, whichever stack it found at compile time. Compiled models freed out of
order leave the thread on a stack that has been unmapped; the next signal that has a Python handler (SIGCHLD once
a torch DataLoader has run workers, SIGINT on Ctrl-C) then kills the process with SIGSEGV instead of being
handled. Putting the caller's stack back after each compile means every compiled model saves, and later restores,
a stack that stays valid.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import sys


class _Stack(ctypes.Structure):  # struct stack_t
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@functools.lru_cache(maxsize=1)
def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _read() -> _Stack | None:
    libc, stack = _libc(), _Stack()
    if libc is None or libc.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return stack


def current() -> tuple[int, int, int] | None:
    """(address, size, flags) of this thread's signal stack; None where it cannot be read."""
    stack = _read()
    return None if stack is None else (stack.ss_sp or 0, stack.ss_size, stack.ss_flags)


@contextlib.contextmanager
def kept_signal_stack(collect: bool = False):
    """Run the body, then give this thread back the signal stack it had before. `collect` first frees
    unreachable objects (compiled models a library dropped inside the body), so that they restore their stacks
    while the body's are still mapped."""
    saved = _read()
    try:
        yield
    finally:
        if saved is not None:
            if collect:
                gc.collect()
            _libc().sigaltstack(ctypes.byref(saved), None)
