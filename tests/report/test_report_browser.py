"""Open report.html in headless Chromium and check the screenshot shows a page, not a blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from matplotlib import image

CHROMIUM = next((c for c in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                 if c and Path(c).exists()), None)


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium)")
def test_report_renders_in_chromium(built, tmp_path):
    shot = tmp_path / "report.png"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1280,2000",
               built.html.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    pixels = image.imread(shot)
    assert pixels.shape[:2] == (2000, 1280)
    # A rendered page has text and tables: many pixels differ from the white background.
    assert (pixels[..., :3] < 0.9).mean() > 0.02
