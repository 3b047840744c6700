"""Peak memory of one TransformerNet forward pass on the CPU, against cinlab.memory's estimate.

Each measurement runs in a fresh process: the peak resident memory (VmHWM, reset just before the
pass through /proc/self/clear_refs) minus the resident memory before it, for a random image of
the given shorter side (3:2), network width and batch, in float32. Prints bytes per pixel per
image and the ratio estimate / measured (must stay >= 1: the estimate is what refusals rest on).

    python benchmarks/stylize_memory.py                       # widths 0.25-2, sides 512-2048
    python benchmarks/stylize_memory.py --cases 1.0:1024:1    # width:side:batch

Large sides need several GB of free memory; report the load average (``uptime``) with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys, torch
from cinlab.model import TransformerNet
width, side, batch = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
net = TransformerNet(batch, width).eval()
x = torch.rand(1, 3, side, side * 3 // 2)
styles = list(range(batch))
net.stylize(torch.rand(1, 3, 32, 32), styles, precision="float32")  # load the libraries first
def status(key):
    return next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith(key))
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
net.stylize(x, styles, precision="float32")
print(json.dumps({"measured": status("VmHWM") - before, "height": side, "width": side * 3 // 2}))
"""

DEFAULT_CASES = ["0.25:1024:1", "0.5:1024:1", "1.0:512:1", "1.0:1024:1", "1.0:1536:1", "1.0:1024:2", "2.0:1024:1"]


def measure(width: float, side: int, batch: int) -> dict:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(width), str(side), str(batch)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    from cinlab.memory import stylize_bytes
    from cinlab.model import TransformerNet

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=DEFAULT_CASES, help="width:side:batch, e.g. 1.0:1024:1")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    print(
        f"{'width':>6} {'side':>5} {'batch':>5} {'Mpx':>6} {'measured MB':>12} {'B/px/image':>11} {'estimate/measured':>18}"
    )
    for case in args.cases:
        width, side, batch = float(case.split(":")[0]), int(case.split(":")[1]), int(case.split(":")[2])
        result = measure(width, side, batch)
        pixels = result["height"] * result["width"]
        estimate = stylize_bytes(TransformerNet(batch, width), result["height"], result["width"], batch)
        print(
            f"{width:>6g} {side:>5} {batch:>5} {pixels / 1e6:>6.2f} {result['measured'] / 1e6:>12.0f} "
            f"{result['measured'] / pixels / batch:>11.0f} {estimate / result['measured']:>18.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
