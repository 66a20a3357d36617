"""How long reopening a saved conversation takes in a real browser.

Starts the app (demo mode) on a fresh database holding one bakery conversation with
its two recorded follow-ups (made through the app's own turn functions), opens it in
headless Chromium and times: click in the sidebar -> the last answer's objective is on
screen. Also prints the server-side time of the same run (AppTest) so the two can be
told apart, and which requests the page made to hosts other than 127.0.0.1.

    python bench/app_reopen.py [--repeats 5]

Needs chromium, chromium-driver (apt) and selenium.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CHROMIUM = os.environ.get("NL2OPT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("NL2OPT_CHROMEDRIVER", "/usr/bin/chromedriver")


def seed_database(path: Path) -> int:
    """One bakery conversation with both recorded follow-ups; its id."""
    from nl2opt.app.demo import app_demo_backend, demo_conversations, demo_options, play
    from nl2opt.app.history import History

    bakery = demo_conversations()[0]
    history = History(path)
    conversation = history.create("Bakery", bakery.problem)
    for step, answer in zip(bakery.steps, play(bakery, app_demo_backend(), demo_options())):
        history.add_message(conversation.id, "user", step.request)
        history.add_message(conversation.id, "assistant", "answer",
                            answer.model_dump(mode="json"))
    return conversation.id


def server_seconds(db: Path, conversation_id: int, repeats: int) -> list[float]:
    os.environ["NL2OPT_APP_DB"] = str(db)
    from streamlit.testing.v1 import AppTest

    from nl2opt.app import entry_file

    times = []
    for _ in range(repeats):
        app = AppTest.from_file(str(entry_file()), default_timeout=120)
        app.run()
        started = time.perf_counter()
        app.button(key=f"open_{conversation_id}").click().run()
        times.append(time.perf_counter() - started)
    return times


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db: Path, port: int) -> subprocess.Popen:
    from nl2opt.app.commands import streamlit_command

    environment = {k: v for k, v in os.environ.items() if k != "NL2OPT_LLM"}
    environment["NL2OPT_APP_DB"] = str(db)
    command = streamlit_command(port, "127.0.0.1", browser=False)
    process = subprocess.Popen(command + ["--server.fileWatcherType", "none"],
                               env=environment, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the app did not start")


def browser_seconds(url: str, conversation_id: int, repeats: int, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    times = []
    try:
        for _ in range(repeats):
            driver.get(url)
            wait = WebDriverWait(driver, 60)
            button = wait.until(EC.element_to_be_clickable(
                (By.CSS_SELECTOR, f".st-key-open_{conversation_id} button")))
            started = time.perf_counter()
            button.click()
            wait.until(lambda d: "1,350" in " ".join(
                e.text for e in d.find_elements(By.CSS_SELECTOR,
                                                "[data-testid='stMetricValue']")))
            times.append(time.perf_counter() - started)
        outside = sorted({_host(entry) for entry in driver.get_log("performance")} - {"", "127.0.0.1"})
    finally:
        driver.quit()
    return times, outside


def _host(entry: dict) -> str:
    message = json.loads(entry["message"])["message"]
    if message.get("method") != "Network.requestWillBeSent":
        return ""
    url = message["params"]["request"]["url"]
    if not url.startswith("http"):
        return ""
    return url.split("/")[2].split(":")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "app.db"
        conversation_id = seed_database(db)
        server = server_seconds(db, conversation_id, args.repeats)
        port = free_port()
        process = start_server(db, port)
        try:
            browser, outside = browser_seconds(f"http://127.0.0.1:{port}", conversation_id,
                                               args.repeats, Path(folder) / "chromium")
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(f"server side (AppTest run after the click): median {statistics.median(server):.3f} s "
          f"(min {min(server):.3f}, max {max(server):.3f})")
    print(f"in the browser (click -> last objective shown): median "
          f"{statistics.median(browser):.3f} s (min {min(browser):.3f}, max {max(browser):.3f});"
          f" target 1 s: {statistics.median(browser) / 1.0:.2f}x")
    print("requests to other hosts: " + (", ".join(outside) or "none"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
