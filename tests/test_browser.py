"""End to end in a real browser: tests/browser/browse.ipynb served by Voila, driven by headless Chromium.

The page shows ``dgtools.browse`` over ``data/responses`` with the diarized
support call selected; the test checks that the transcript's words render
(``span.dg-word``), picks an utterance in the "segments" list through the page
and waits for the clip's ``<audio>`` element.  A screenshot is saved under
pytest's ``tmp_path`` and copied to ``$DGTOOLS_ARTIFACTS`` when set.

Needs Debian's chromium and chromium-driver (/usr/bin/chromium,
/usr/bin/chromedriver), voila and selenium; skips when any is missing.  The
driver path is explicit, so selenium-manager never runs (nothing is downloaded).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import missing

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "tests" / "browser" / "browse.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FILE_ID = "support_call_diarized"
#: Words of the diarized sample response's first utterance (data/responses/support_call_diarized.json).
EXPECTED_WORDS = ("Thanks", "calling", "Northwind")

VOILA_START_TIMEOUT = 30.0
RENDER_TIMEOUT = 45.0
AUDIO_TIMEOUT = 20.0

pytestmark = pytest.mark.slow


def _missing() -> str | None:
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} not found (Debian package chromium)"
    if not CHROMEDRIVER.is_file():
        return f"{CHROMEDRIVER} not found (Debian package chromium-driver)"
    for module in ("voila", "selenium"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install {module})"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _write_wav(path: Path, seconds: float, rate: int = 8000) -> None:
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="PCM_16")


@pytest.fixture
def voila_url(tmp_path: Path) -> Iterator[str]:
    why = _missing()
    if why:
        missing("browser", why)
    audio = tmp_path / "audio"
    audio.mkdir()
    _write_wav(audio / f"{FILE_ID}.wav", 34.0)  # the sample's words end at 32.64 s
    env = {
        **os.environ,
        "DGTOOLS_BROWSER_RESPONSES": str(REPO / "data" / "responses"),
        "DGTOOLS_BROWSER_AUDIO": str(audio),
        "DGTOOLS_BROWSER_FILE": FILE_ID,
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p),
        "JUPYTER_PLATFORM_DIRS": "1",
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
    }
    port = _free_port()
    log_path = tmp_path / "voila.log"
    cmd = [
        sys.executable,
        "-m",
        "voila",
        "--no-browser",
        f"--port={port}",
        "--Voila.ip=127.0.0.1",
        "--VoilaConfiguration.file_allowlist=[]",
        str(NOTEBOOK),
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + VOILA_START_TIMEOUT
            while True:
                if proc.poll() is not None:
                    pytest.fail(
                        f"voila exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
                    )
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        pytest.fail(
                            f"voila did not answer on port {port} in {VOILA_START_TIMEOUT:.0f} s:\n"
                            + log_path.read_text(errors="replace")
                        )
                    time.sleep(0.2)
            yield f"http://127.0.0.1:{port}/"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chrome-profile-", dir=tmp_path)
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        drv.set_page_load_timeout(RENDER_TIMEOUT)
        yield drv
    finally:
        drv.quit()


def _screenshot(drv: object, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    drv.save_screenshot(str(path))  # type: ignore[attr-defined]
    target = os.environ.get("DGTOOLS_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(target) / name)
        path = Path(target) / name
    print(f"screenshot: {path}")
    return path


def test_browse_renders_transcript_and_audio(voila_url: str, driver: object, tmp_path: Path) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    drv = driver
    drv.get(voila_url)  # type: ignore[attr-defined]
    try:
        # the transcript of the diarized sample, rendered by the widget manager
        words = WebDriverWait(drv, RENDER_TIMEOUT).until(
            lambda d: [e for e in d.find_elements(By.CSS_SELECTOR, "span.dg-word") if e.text.strip()] or False
        )
        texts = [e.text.strip() for e in words]
        for expected in EXPECTED_WORDS:
            assert any(expected in t for t in texts), (expected, texts[:20])

        assert not drv.find_elements(By.TAG_NAME, "audio")  # type: ignore[attr-defined]
        # pick the second utterance in the "segments" list, as a user would
        option_xpath = (
            "//div[contains(@class,'widget-select')][.//label[normalize-space()='segments']]//select/option"
        )
        options = WebDriverWait(drv, RENDER_TIMEOUT).until(
            lambda d: d.find_elements(By.XPATH, option_xpath) or False
        )
        assert len(options) >= 2, [o.text for o in options]
        assert "Sam" in options[1].text, options[1].text
        options[1].click()
        audio = WebDriverWait(drv, AUDIO_TIMEOUT).until(
            ec.presence_of_element_located((By.TAG_NAME, "audio"))
        )
        assert audio.get_attribute("src"), "the <audio> element has no source"
        WebDriverWait(drv, AUDIO_TIMEOUT).until(
            lambda d: any(
                f"{FILE_ID}.wav" in e.text for e in d.find_elements(By.CSS_SELECTOR, ".widget-label")
            )
        )
        # the picked utterance ("Hi Sam. My new standing desk ...") is highlighted in the transcript
        highlighted = WebDriverWait(drv, AUDIO_TIMEOUT).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "span.dg-word.dg-hl") or False
        )
        assert any("standing" in e.text for e in highlighted), [e.text for e in highlighted]
    except TimeoutException:
        _screenshot(drv, tmp_path, "browse-timeout.png")
        raise
    _screenshot(drv, tmp_path, "browse.png")
