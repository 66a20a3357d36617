"""End to end in a real browser: the Streamlit server in a subprocess, headless Chromium
driven by Selenium. Type the bakery problem (demo mode), wait for the objective, and save
a screenshot to test-artifacts/app_browser.png.

Needs Debian's chromium and chromium-driver (apt) and selenium (pip); skipped otherwise.
Selenium Manager is never used: the driver path is given explicitly.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("NL2OPT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NL2OPT_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"

pytest.importorskip("streamlit", reason="the app needs streamlit (pip install 'nl2opt[app]')")
webdriver = pytest.importorskip("selenium.webdriver",
                                reason="the browser test needs selenium (pip install selenium)")
if not (Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file()):
    pytest.skip(f"the browser test needs {CHROMIUM} and {CHROMEDRIVER} "
                "(apt-get install chromium chromium-driver)", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from nl2opt.app import entry_file  # noqa: E402
from nl2opt.app.demo import demo_conversations  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 40.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"streamlit did not come up at {url} within {timeout} s")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "NL2OPT_LLM"}
    environment["NL2OPT_APP_DB"] = str(tmp_path / "app.db")
    log = (tmp_path / "streamlit.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(entry_file()),
         "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none", "--global.developmentMode", "false",
         "--client.toolbarMode", "viewer"],
        env=environment, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def browser(tmp_path):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1400,1800", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_type_a_problem_and_see_the_answer(server, browser):
    problem = demo_conversations()[0].problem  # the bakery: recorded in demo mode
    browser.get(server)
    wait = WebDriverWait(browser, 40)
    box = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, "textarea[data-testid='stChatInputTextArea']")))
    box.send_keys(problem)
    box.send_keys(Keys.ENTER)
    wait.until(EC.text_to_be_present_in_element(
        (By.CSS_SELECTOR, "[data-testid='stMetricValue']"), "1,028.57"))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "[data-testid='stTabs']")))
    time.sleep(1.0)  # let charts and math finish drawing before the picture
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "app_browser.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Optimal" in page and "Try a follow-up" in page
