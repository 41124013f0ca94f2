"""Why the Job's sidecars carry no startupProbe: the kubelet starts a native sidecar with a
startupProbe only after the previous one's probe passed, so N probed skills start one after
another; without probes they start together and the agent waits for all (it does anyway).
This plays both orders with real `podium skill serve` processes and the probe's own command
(`podium skill health`, what the startupProbe would exec, at the kubelet's 1 s period).

    .venv/bin/python bench/bench_sidecar_start.py [--skills 1 3] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PODIUM = [sys.executable, "-m", "runtime.cli"]
PERIOD_S = 1.0  # the startupProbe's periodSeconds the Pod builder sets


def _serve(folder: Path, i: int) -> tuple[subprocess.Popen[bytes], Path]:
    sock = folder / f"s{i}.sock"
    args = [
        *PODIUM,
        "skill",
        "serve",
        "workspace",
        "--socket",
        str(sock),
        "--workspace",
        str(folder),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, sock


def _probe(sock: Path) -> bool:
    args = [*PODIUM, "skill", "health", "--socket", str(sock)]
    return subprocess.run(args, capture_output=True).returncode == 0


def _ready(sock: Path) -> None:
    """What the agent does (cheaply, in-process): wait for the socket, then check health."""
    while True:
        while not sock.exists():
            time.sleep(0.01)
        if _probe(sock):
            return


def serial_with_probes(n: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    procs: list[subprocess.Popen[bytes]] = []
    start = time.perf_counter()
    try:
        for i in range(n):
            proc, sock = _serve(folder, i)
            procs.append(proc)
            while True:  # the kubelet: first probe after one period, then every period
                time.sleep(PERIOD_S)
                if sock.exists() and _probe(sock):
                    break
        return time.perf_counter() - start
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(folder, ignore_errors=True)


def together(n: int) -> float:
    folder = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
    start = time.perf_counter()
    started = [_serve(folder, i) for i in range(n)]
    try:
        for _, sock in started:
            _ready(sock)
        return time.perf_counter() - start
    finally:
        for p, _ in started:
            p.terminate()
            p.wait()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skills", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for n in args.skills:
        probed = statistics.median(serial_with_probes(n) for _ in range(args.repeat))
        free = statistics.median(together(n) for _ in range(args.repeat))
        print(f"| {n} skill sidecar(s) ready | startupProbes (serial): {probed:.2f} s "
              f"| no probes (together): {free:.2f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
