"""Runs a program with transparent huge pages turned off for it, as a parent process may
(prctl(PR_SET_THP_DISABLE), kept through exec). tests/huge_pages.rs: leafseal must leave
that setting as it is, also for the programs it starts."""
import ctypes
import os
import sys

PR_SET_THP_DISABLE = 41
libc = ctypes.CDLL(None, use_errno=True)
zero = ctypes.c_ulong(0)
if libc.prctl(PR_SET_THP_DISABLE, ctypes.c_ulong(1), zero, zero, zero) != 0:
    sys.exit("prctl failed: errno %d" % ctypes.get_errno())
os.execv(sys.argv[1], sys.argv[1:])
