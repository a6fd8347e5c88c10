"""Instructions per command under valgrind's callgrind: a CPU figure the machine's load cannot move.

`time.process_time` on this shared two-core machine moves with whatever else runs (cache and
frequency effects, other engineers' suites); callgrind counts the instructions a process
executes, which are the same for the same code, inputs and environment. Valgrind runs a program
20-100x slower, so the worker starts with instrumentation off (`--instr-atstart=no`, Django's
start-up runs at near-native speed) and switches it on only for the commands it measures.

Python cannot send valgrind's client requests itself (they are magic instruction sequences), so
a three-function C shim, compiled with the machine's gcc against valgrind's own header, sends
them through ctypes: start instrumentation, zero the counters, dump them with a label. Each dump
is a file `<prefix>.<pid>.<n>` whose `summary:` line is the instructions since the last zero.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

HEADER = Path("/usr/include/valgrind/callgrind.h")
SHIM_SOURCE = """
#include <valgrind/callgrind.h>
void hm_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void hm_zero(void) { CALLGRIND_ZERO_STATS; }
void hm_dump(const char *label) { CALLGRIND_DUMP_STATS_AT(label); }
"""
# Where the worker finds the shim and writes its dumps (set by `valgrind_prefix`).
SHIM_ENV = "HM_CALLGRIND_SHIM"
OUT_ENV = "HM_CALLGRIND_OUT"


def unavailable() -> str:
    """Why instructions cannot be counted here ("" when they can)."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed"
    if shutil.which("gcc") is None:
        return "gcc is not installed (the client-request shim is compiled at run time)"
    if not HEADER.exists():
        return f"{HEADER} is missing (valgrind's development header)"
    return ""


def build_shim(directory: Path) -> Path:
    """Compile the client-request shim into `directory` (a scratch directory of the run)."""
    source = directory / "hm_callgrind.c"
    library = directory / "hm_callgrind.so"
    source.write_text(SHIM_SOURCE)
    subprocess.run(  # noqa: S603
        ["gcc", "-shared", "-fPIC", "-O1", "-o", str(library), str(source)],  # noqa: S607
        check=True,
    )
    return library


def valgrind_prefix(directory: Path, label: str) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment that run a worker under callgrind, dumps in
    `directory` named after `label`."""
    out = directory / f"cg.{label}"
    argv = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--dump-line=no",
        f"--callgrind-out-file={out}.%p",
    ]
    return argv, {SHIM_ENV: str(directory / "hm_callgrind.so"), OUT_ENV: str(out)}


class Callgrind:
    """The worker's side: switch instrumentation on once, then zero/dump around each command."""

    def __init__(self, shim: str, out: str) -> None:
        self.lib = ctypes.CDLL(shim)
        self.lib.hm_dump.argtypes = [ctypes.c_char_p]
        self.prefix = f"{out}.{os.getpid()}"
        self.dumps = 0
        self.lib.hm_start()

    @classmethod
    def in_this_process(cls) -> Callgrind:
        """The counter of a worker started with `valgrind_prefix`'s environment."""
        shim, out = os.environ.get(SHIM_ENV), os.environ.get(OUT_ENV)
        if not shim or not out:
            raise RuntimeError("not started under bench.callgrind.valgrind_prefix")
        return cls(shim, out)

    def zero(self) -> None:
        self.lib.hm_zero()

    def dump(self, label: str) -> int:
        """Instructions since the last `zero` (read back from the dump, then deleted)."""
        self.lib.hm_dump(label.encode())
        self.dumps += 1
        path = Path(f"{self.prefix}.{self.dumps}")
        try:
            for line in path.read_text().splitlines():
                if line.startswith("summary:"):
                    return int(line.split()[1])
        finally:
            path.unlink(missing_ok=True)
        raise RuntimeError(f"{path} has no summary line")
