"""pytest set-up for the browser tests in this folder (run them with ``-m browser``)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in headless Chromium (slow; needs /usr/bin/chromium and playwright)")
