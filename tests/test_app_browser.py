"""End to end in a real browser: the Streamlit server in a subprocess, headless Chromium
driven by Selenium, in one session (issue 15): type the bakery problem (demo mode), ask a
follow-up, download an export and solve it again, open the infeasible farm and apply a
repair; a screenshot of each to test-artifacts/. Along the way, accessibility: one H1, the
contrast of the main text styles (WCAG AA, 4.5:1), and no request leaving 127.0.0.1.

Needs Debian's chromium and chromium-driver (apt) and selenium (pip); skipped otherwise.
Selenium Manager is never used: the driver path is given explicitly.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
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

from nl2opt.app.commands import streamlit_command  # noqa: E402
from nl2opt.app.demo import demo_conversations  # noqa: E402

# The text styles a reader meets first: body text, captions, metric labels and values,
# tab labels, buttons, widget labels, and the text of info, error and warning boxes.
TEXT_STYLES = {
    "body text": "[data-testid='stMarkdownContainer'] p",
    "caption": "[data-testid='stCaptionContainer']",
    "metric label": "[data-testid='stMetricLabel'] p",
    "metric value": "[data-testid='stMetricValue']",
    "tab label": "[data-testid='stTab'] p",
    "button": "[data-testid='stBaseButton-secondary'] p",
    "widget label": "[data-testid='stWidgetLabel'] p",
    "error box": "[data-testid='stAlertContentError'] p",
    "info box": "[data-testid='stAlertContentInfo'] p",
}
CONTRAST_JS = """
function rgba(text) { const m = text.match(/[\\d.]+/g).map(Number);
  return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; }
function blend(top, bottom) { const a = top[3];
  return [0, 1, 2].map(i => top[i] * a + bottom[i] * (1 - a)).concat([1]); }
function background(element) { const layers = [];
  for (let e = element; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) layers.push(c);
    if (c[3] >= 1) break; }
  return layers.reverse().reduce((under, layer) => blend(layer, under), [255, 255, 255, 1]); }
function luminance(c) { return 0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2]); }
function lin(v) { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }
const element = document.querySelector(arguments[0]);
if (!element) return null;
const under = background(element);
const text = blend(rgba(getComputedStyle(element).color), under);
const [a, b] = [luminance(text), luminance(under)];
return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
"""


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
    command = streamlit_command(port, "127.0.0.1", browser=False)  # what `nl2opt app` runs
    process = subprocess.Popen(command + ["--server.fileWatcherType", "none"],
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
def downloads(tmp_path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path, downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                 "--window-size=1400,1800", f"--user-data-dir={tmp_path / 'chromium'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(browser, name: str) -> None:
    time.sleep(1.0)  # let charts and math finish drawing before the picture
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def page_shows(text: str):
    return lambda driver: text in driver.find_element(By.TAG_NAME, "body").text


def click_button(browser, wait, label: str, which: int = -1) -> None:
    xpath = (f"//*[self::button or @role='tab'][.//p[contains(normalize-space(.), "
             f"{json.dumps(label)})]]")
    buttons = wait.until(lambda d: d.find_elements(By.XPATH, xpath))
    # A script click: a rerun may shift the layout between scrolling and clicking.
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'}); "
                           "arguments[0].click();", buttons[which])


def outside_hosts(browser) -> set[str]:
    hosts = set()
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if url.startswith(("http:", "https:", "ws:", "wss:")):
                hosts.add(url.split("/")[2].rsplit(":", 1)[0])
    return hosts - {"127.0.0.1"}


def low_contrast(browser) -> dict[str, float]:
    ratios = {name: browser.execute_script(CONTRAST_JS, selector)
              for name, selector in TEXT_STYLES.items()}
    assert sum(r is not None for r in ratios.values()) >= 6, ratios  # the styles were found
    return {name: round(r, 2) for name, r in ratios.items() if r is not None and r < 4.5}


def test_one_session_from_a_problem_to_a_follow_up_an_export_and_a_repair(server, browser,
                                                                          downloads):
    bakery, farm, _ = demo_conversations()
    browser.get(server)
    wait = WebDriverWait(browser, 60)
    box = wait.until(EC.element_to_be_clickable(
        (By.CSS_SELECTOR, "textarea[data-testid='stChatInputTextArea']")))
    box.send_keys(bakery.problem)
    box.send_keys(Keys.ENTER)
    wait.until(EC.text_to_be_present_in_element(
        (By.CSS_SELECTOR, "[data-testid='stMetricValue']"), "$1,028.57"))
    wait.until(page_shows("The best plan's profit is $1,028.57"))
    screenshot(browser, "app_answer")
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
    tabs = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "[role='tab']")]
    assert tabs[:3] == ["Solution", "Sensitivity", "Model"]  # no icon names in the labels

    click_button(browser, wait, "Try a follow-up")
    wait.until(page_shows("One more unit of oven hours is worth $19.29 of profit"))
    screenshot(browser, "app_followup")

    click_button(browser, wait, "Code & export")
    click_button(browser, wait, "Formulation (JSON)")
    exported = downloads / "model.json"
    WebDriverWait(browser, 30).until(lambda _: exported.is_file())
    from nl2opt.api import solve_formulation

    assert solve_formulation(exported).objective == pytest.approx(7200 / 7)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});",
                           browser.find_elements(By.CSS_SELECTOR, "[data-testid='stTab']")[-1])
    screenshot(browser, "app_export")

    click_button(browser, wait, "New conversation")
    click_button(browser, wait, farm.label)
    wait.until(page_shows("are required, but at most 100 acres are available"))
    screenshot(browser, "app_infeasible")
    assert low_contrast(browser) == {}
    click_button(browser, wait, "Apply", which=0)  # rent 10 more acres
    wait.until(page_shows("The best plan's season profit is $27,000"))
    screenshot(browser, "app_repaired")
    assert outside_hosts(browser) == set()
