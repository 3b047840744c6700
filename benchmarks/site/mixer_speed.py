"""The style mixer's speed: time per picture in headless Chromium against cinlab's PyTorch ``stylize``.

    python benchmarks/site/mixer_speed.py [--site build/site] [--runs 10] [--sizes 256 512] [--threads 1 2]

Opens the built site's mixer page (served locally with the cross-origin isolation headers that
multi-threaded WebAssembly needs) in Debian's Chromium through Playwright, and times the page's own
engine (``window.cinlabMixer.engine.time``: onnxruntime-web, WebAssembly, the network the page
shows first; one page with 1 thread, one with 2) on square pictures of each size, against
``model.stylize`` of the same checkpoint in PyTorch (float32, ``torch.get_num_threads()``
threads) in this process, interleaved run by run (same sizes, same machine, same moments), each
after a warm-up. Then it drags the two-style slider in each page and reports input-to-picture
times of the previews and of the full picture. Prints medians, ratios and the
load average. Builds the site first when ``--site`` has none (``python docs/build.py``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "docs"))
sys.path.insert(0, str(ROOT / "benchmarks" / "browser"))

from harness import launch_chromium
from serve import serving


def run_all(site: Path, sizes, threads_list, runs: int) -> tuple[dict, dict, str, int]:
    """Time the page's engine (one page per thread count) and PyTorch, interleaved: for each size, round r
    runs one PyTorch picture and then one picture in each page, so a change in the machine's load
    touches all of them alike. Then the slider drag in each page."""
    import torch
    from playwright.sync_api import sync_playwright

    import cinlab

    web: dict = {}
    reference: dict = {}
    with serving(site, isolate=True) as url, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            pages = {}
            for threads in threads_list:
                page = browser.new_page()
                page.on("pageerror", lambda e: print(f"page error: {e}", file=sys.stderr))
                page.goto(f"{url}mixer.html?backend=wasm&threads={threads}")
                page.evaluate("() => window.cinlabMixer.ready")
                info = page.evaluate("() => window.cinlabMixer.info")
                if info["threads"] != threads:
                    raise RuntimeError(f"asked for {threads} threads, the page runs {info['threads']}: {info}")
                pages[threads] = page
            network = pages[threads_list[0]].evaluate("() => window.cinlabMixer.manifest.networks[0].name")
            net = cinlab.load_model(ROOT / "data" / "models" / f"{network}.pt", device="cpu")
            for size in sizes:
                photo = torch.rand(1, 3, size, size)
                net.stylize(photo, 0, precision="float32")  # warm-ups
                for page in pages.values():
                    page.evaluate("([s]) => window.cinlabMixer.engine.time(s, s, 1)", [size])
                for _ in range(runs):
                    t0 = time.perf_counter()
                    net.stylize(photo, 0, precision="float32")
                    reference.setdefault(size, []).append(1000 * (time.perf_counter() - t0))
                    for threads, page in pages.items():
                        (ms,) = page.evaluate("([s]) => window.cinlabMixer.engine.time(s, s, 1, false)", [size])
                        web.setdefault(("wasm", threads, size), []).append(ms)
            for threads, page in pages.items():
                web[("drag", threads)] = drag_latencies(page)
        finally:
            browser.close()
    return web, reference, network, torch.get_num_threads()


def drag_latencies(page, moves: int = 30, interval: float = 0.033) -> list[dict]:
    """Drag the two-style slider like a hand (``moves`` pointer moves ``interval`` s apart) and return
    the page's record of input-to-painted times: previews while it moves, then the full picture."""
    page.locator('.mixer-tabs [data-mode="two"]').click()
    page.wait_for_function(
        """() => { const c = document.getElementById('mixer-picture'); const f = window.cinlabMixer.lastFull;
                   return !window.cinlabMixer.busy() && c.dataset.quality === 'full' && f && c.dataset.key === f.key; }""",
        timeout=120_000,
    )
    page.evaluate("() => { window.cinlabMixer.latencies = []; }")
    box = page.locator("#mixer-alpha").bounding_box()
    y, x0, x1 = box["y"] + box["height"] / 2, box["x"] + 4, box["x"] + box["width"] - 4
    page.mouse.move(x0, y)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(x0 + (x1 - x0) * i / moves, y)
        time.sleep(interval)  # a hand's pace, not a wait for the page
    page.mouse.up()
    page.wait_for_function("() => window.cinlabMixer.latencies.some((l) => l.kind === 'full')", timeout=120_000)
    return page.evaluate("() => window.cinlabMixer.latencies")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    if not (args.site / "mixer" / "mixer.json").is_file():
        subprocess.run([sys.executable, str(ROOT / "docs" / "build.py"), "--out", str(args.site)], check=True)
    load_before = os.getloadavg()
    web, reference, network, torch_threads = run_all(args.site, args.sizes, args.threads, args.runs)
    load_after = os.getloadavg()
    print(f"# mixer speed: {network}, median of {args.runs} per picture (ms), square pictures")
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores; load average {load_before[0]:.2f} -> {load_after[0]:.2f}"
    )
    print(f"{'size':>6} {'backend':>16} {'median ms':>10} {'PyTorch ms':>11} {'ratio':>6}")
    for size in args.sizes:
        ref = statistics.median(reference[size])
        print(f"{size:>6} {f'PyTorch ({torch_threads} thr)':>16} {ref:>10.0f} {ref:>11.0f} {1.0:>6.2f}")
        for threads in args.threads:
            med = statistics.median(web[("wasm", threads, size)])
            print(
                f"{size:>6} {f'WASM {threads} thread' + ('s' if threads > 1 else ''):>16} {med:>10.0f} {ref:>11.0f} {med / ref:>6.2f}"
            )
    print("# dragging the two-style slider (30 moves in 1 s): input to picture painted, ms")
    for threads in args.threads:
        lat = web[("drag", threads)]
        previews = sorted(x["ms"] for x in lat if x["kind"] == "preview")
        full = [x["ms"] for x in lat if x["kind"] == "full"]
        if previews:
            p90 = previews[min(len(previews) - 1, int(0.9 * len(previews)))]
            print(
                f"  WASM {threads} thread(s): {len(previews)} previews, median {statistics.median(previews):.0f}, "
                f"p90 {p90:.0f}, max {previews[-1]:.0f}; full picture {full[-1]:.0f} after the last input "
                f"(incl. {200} ms rest)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
