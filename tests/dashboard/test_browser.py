"""End to end: `undertone dashboard` serving a real catalog, driven by headless chromium through selenium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
UNDERTONE = Path(sys.executable).with_name("undertone")  # the installed console script
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard-search.png"
TIMELINE_SCREENSHOT = DOCS_SCREENSHOT.with_name("dashboard-timeline.png")
STARTUP_SECONDS = 120
SEARCH_SECONDS = 240  # the first query loads the emotion model

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver"),
    pytest.mark.skipif(not UNDERTONE.is_file(), reason="needs the installed undertone command"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def dashboard(ingested_store: Path, music_dir: Path, tmp_path: Path):
    """``undertone dashboard`` on a free port; yields its URL and stops it afterwards."""
    port = free_port()
    log = (tmp_path / "dashboard.log").open("wb")
    env = {**os.environ, "UNDERTONE_CONFIG": str(tmp_path / "no-config.toml")}
    command = [str(UNDERTONE), "dashboard", "--store", str(ingested_store), "--library-root", str(music_dir), "--port", str(port)]
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, server)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def wait_until_healthy(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the dashboard exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"the dashboard did not answer on {url} within {STARTUP_SECONDS} s")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage", "--window-size=1440,2300"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_search_page_in_a_real_browser(dashboard: str, browser, voice, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    clip = tmp_path / "voice-over.wav"
    clip.write_bytes(voice("happy", seconds=4.0))
    browser.get(dashboard)
    WebDriverWait(browser, STARTUP_SECONDS).until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
    assert "Find music that feels like your words" in browser.find_element(By.TAG_NAME, "h1").text

    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(clip))
    heading = WebDriverWait(browser, SEARCH_SECONDS).until(
        EC.presence_of_element_located((By.XPATH, "//h3[contains(., 'tracks for speech')]"))
    )
    assert heading.text.startswith("6 tracks for speech")
    WebDriverWait(browser, 30).until(lambda driver: len(driver.find_elements(By.TAG_NAME, "audio")) == 6)
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stException]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stAlertContentError]")
    WebDriverWait(browser, 30).until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "canvas, svg.marks")) >= 2)
    time.sleep(1.0)  # let the charts finish their entry animation before the picture

    screenshot = tmp_path / "dashboard-search.png"
    assert browser.save_screenshot(str(screenshot))
    DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, DOCS_SCREENSHOT)


def test_a_page_url_opened_directly_keeps_the_navigation(dashboard: str, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{dashboard}/catalog")
    WebDriverWait(browser, SEARCH_SECONDS).until(EC.presence_of_element_located((By.XPATH, "//h3[contains(., 'What is in the catalog')]")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Catalog"
    # A link reads "<icon ligature>\n<title>".
    links = [link.text.splitlines()[-1] for link in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stSidebarNavLink]")]
    assert links == ["Search", "Timeline", "Shortlists", "Catalog", "Evaluation"]
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stException]")


def test_timeline_page_in_a_real_browser(dashboard: str, browser, videos, tmp_path: Path) -> None:
    """Upload a video, see its cues on the cuts and the cue-sheet downloads."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{dashboard}/timeline")
    WebDriverWait(browser, STARTUP_SECONDS).until(EC.presence_of_element_located((By.CSS_SELECTOR, "input[type=file]")))
    assert browser.find_element(By.TAG_NAME, "h1").text == "Cue a video"
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(videos.mp4))
    WebDriverWait(browser, SEARCH_SECONDS).until(EC.presence_of_element_located((By.XPATH, "//p[contains(., 'Cue 1')]")))
    assert "00:00:00:00" in browser.find_element(By.XPATH, "//p[contains(., 'Cue 1')]").text
    labels = [button.text for button in browser.find_elements(By.CSS_SELECTOR, "[data-testid=stDownloadButton] button")]
    assert labels == ["Cue sheet (EDL)", "Cue sheet (CSV)", "Cue sheet (JSON)"]
    WebDriverWait(browser, 30).until(lambda driver: len(driver.find_elements(By.CSS_SELECTOR, "canvas, svg.marks")) >= 1)
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stException]")
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stAlertContentError]")
    time.sleep(1.0)  # let the chart finish its entry animation before the picture
    screenshot = tmp_path / "dashboard-timeline.png"
    assert browser.save_screenshot(str(screenshot))
    shutil.copyfile(screenshot, TIMELINE_SCREENSHOT)
