"""Serve the built site locally: ``python docs/serve.py [DIR] [--port 8000] [--no-isolation]``.

A static file server (Python's ``http.server``) on 127.0.0.1 that also sends the two headers that
make a page *cross-origin isolated* (``Cross-Origin-Opener-Policy: same-origin`` and
``Cross-Origin-Embedder-Policy: require-corp``), which browsers require before WebAssembly may
use more than one thread: with them the mixer runs onnxruntime-web on 2+ threads, without them
(``--no-isolation``, or a host such as GitHub Pages that cannot send headers) on one.
``python -m http.server -d build/site`` works too (one thread).

The tests and benchmarks use :func:`serving` (a context manager: a server thread on a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Static files; cross-origin isolation headers unless ``isolate`` is False; quiet."""

    isolate = True
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
        ".json": "application/json",
    }

    def end_headers(self):
        if self.isolate:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serving(directory: str | Path, *, isolate: bool = True, port: int = 0) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port unless given) in a thread; yields the base URL
    (``http://127.0.0.1:PORT/``) and stops the server on exit."""
    handler = type("Handler", (SiteHandler,), {"isolate": isolate})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(handler, directory=str(Path(directory).resolve()))
    )
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", nargs="?", default=ROOT / "build" / "site", type=Path)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--no-isolation", action="store_true", help="do not send COOP/COEP (one thread)")
    args = parser.parse_args(argv)
    if not (args.directory / "index.html").is_file():
        parser.error(f"{args.directory} has no index.html: build the site first (python docs/build.py).")
    with serving(args.directory, isolate=not args.no_isolation, port=args.port) as url:
        print(f"serving {args.directory} at {url} (Ctrl+C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
