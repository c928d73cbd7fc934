"""Container start and destroy times against bare `unshare`, measured interleaved on this machine.

Run as root:  PYTHONPATH=plugins/lxc:<path where virtkernel imports> python3 plugins/lxc/bench/bench_start.py [N]

"start" is launch() until the init program has been exec'd; "destroy" is Container.destroy() until the
supervisor has exited. "(pool)" starts take a ready spare from a SupervisorPool (pool.py). The reference is `unshare --fork --pid --mount --uts --ipc --net true` run
with subprocess (fork + exec of unshare, namespaces, fork + exec of true). Reports medians and
the ratio to the reference; it asserts nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from statistics import median

from virtkernel_lxc import ContainerSpec, SupervisorPool, launch

UNSHARE = ["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "true"]


def _timed(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main(rounds: int = 20) -> None:
    scratch = tempfile.mkdtemp(prefix="vklxc-bench-")
    results: dict[str, list[float]] = {"unshare": [], "start": [], "destroy": [], "start (pool)": [],
                                       "destroy (pool)": []}
    pool = SupervisorPool(1)
    pool.wait_ready()
    try:
        for index in range(rounds):
            results["unshare"].append(_timed(lambda: subprocess.run(UNSHARE, check=True)))
            for label, use in (("", None), (" (pool)", pool)):
                spec = ContainerSpec(name=f"bench{index}", uuid=str(uuid.uuid4()), init="/bin/sleep", args=["1000"])
                holder = {}
                results["start" + label].append(_timed(
                    lambda: holder.setdefault("c", launch(spec, f"{scratch}/{spec.name}{label.strip()}", pool=use))))
                if use is not None:
                    use.wait_ready()  # the refill must not overlap the next measurement
                results["destroy" + label].append(_timed(holder["c"].destroy))
    finally:
        pool.close()
        shutil.rmtree(scratch, ignore_errors=True)
    reference = median(results["unshare"])
    for label, values in results.items():
        print(f"{label:16s} median {median(values):7.2f} ms  min {min(values):7.2f} ms  "
              f"{median(values) / reference:5.2f}x unshare")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
