"""How long reopening a saved conversation takes in a real browser, and why.

Seeds a fresh history with the bakery demo conversation (made through the app's own turn
functions), starts the app (demo mode), opens the conversation in headless Chromium and
times: click in the sidebar -> the last answer's objective on screen. Also prints when
the first message appears, how long the browser's main thread was busy (CDP
Performance.getMetrics TaskDuration), the server-side time of the same run (AppTest),
and which requests went to hosts other than 127.0.0.1.

    python bench/app_reopen.py [--repeats 5]
    python bench/app_reopen.py --models-only --app-src /tmp/old/src   # another version

--models-only keeps the answers with a model (the formulation and its two revisions,
as an older app can read them); --app-src runs the app from another source tree (e.g.
`git archive main src | tar -x -C /tmp/old`) for a before/after comparison on the same
machine and data. The machine's load average is printed: timings on a busy machine are
several times those on an idle one.

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


def seed_database(path: Path, models_only: bool = False) -> tuple[int, str]:
    """The bakery conversation (its id, and the last objective as the app shows it)."""
    from nl2opt.app.demo import app_demo_backend, demo_conversations, demo_options, play
    from nl2opt.app.history import History

    bakery = demo_conversations()[0]
    history = History(path)
    conversation = history.create("Bakery", bakery.problem)
    for step, answer in zip(bakery.steps, play(bakery, app_demo_backend(), demo_options())):
        if models_only and answer.kind == "analysis":
            continue
        history.add_message(conversation.id, "user", step.request)
        history.add_message(conversation.id, "assistant", "answer",
                            answer.model_dump(mode="json"))
    return conversation.id, "1,350"


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


def start_server(db: Path, port: int, app_src: Path | None = None) -> subprocess.Popen:
    from nl2opt.app.commands import streamlit_command

    environment = {k: v for k, v in os.environ.items() if k != "NL2OPT_LLM"}
    environment["NL2OPT_APP_DB"] = str(db)
    command = streamlit_command(port, "127.0.0.1", browser=False)
    if app_src is not None:
        command[4] = str(app_src / "nl2opt" / "app" / "main.py")
        environment["PYTHONPATH"] = str(app_src)
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


def browser_seconds(url: str, conversation_id: int, last: str, repeats: int, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1400,1800",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    found = {"total": [], "first": [], "busy": []}
    try:
        for _ in range(repeats):
            driver.get(url)
            wait = WebDriverWait(driver, 60, poll_frequency=0.02)
            button = wait.until(lambda d: d.find_elements(
                By.CSS_SELECTOR, f".st-key-open_{conversation_id} button"))[0]
            time.sleep(1.0)  # the page settles before the clock starts
            driver.execute_cdp_cmd("Performance.enable", {})
            before = _task_seconds(driver)
            started = time.perf_counter()
            button.click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                 "[data-testid='stChatMessage']"))
            found["first"].append(time.perf_counter() - started)
            wait.until(lambda d: last in " ".join(
                e.text for e in d.find_elements(By.CSS_SELECTOR,
                                                "[data-testid='stMetricValue']")))
            found["total"].append(time.perf_counter() - started)
            found["busy"].append(_task_seconds(driver) - before)
        outside = sorted({_host(entry) for entry in driver.get_log("performance")}
                         - {"", "127.0.0.1"})
    finally:
        driver.quit()
    return found, outside


def _task_seconds(driver) -> float:
    """The browser main thread's busy time so far (CDP Performance.getMetrics)."""
    metrics = driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def _host(entry: dict) -> str:
    message = json.loads(entry["message"])["message"]
    if message.get("method") != "Network.requestWillBeSent":
        return ""
    url = message["params"]["request"]["url"]
    if not url.startswith("http"):
        return ""
    return url.split("/")[2].split(":")[0]


def _median(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, " \
           f"max {max(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models-only", action="store_true")
    parser.add_argument("--app-src", type=Path, default=None)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "app.db"
        conversation_id, last = seed_database(db, args.models_only)
        if args.app_src is None:
            print("server side (AppTest run after the click): "
                  + _median(server_seconds(db, conversation_id, args.repeats)))
        port = free_port()
        process = start_server(db, port, args.app_src)
        try:
            found, outside = browser_seconds(f"http://127.0.0.1:{port}", conversation_id,
                                              last, args.repeats, Path(folder) / "chromium")
        finally:
            process.terminate()
            process.wait(timeout=10)
    print("in the browser, click -> last objective shown: " + _median(found["total"])
          + f"; target 1 s: {statistics.median(found['total']):.2f}x")
    print("in the browser, click -> first message shown: " + _median(found["first"]))
    print("browser main thread busy meanwhile: " + _median(found["busy"]))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print("requests to other hosts: " + (", ".join(outside) or "none"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    main()
