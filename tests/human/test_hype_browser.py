#!/usr/bin/python3
"""The HYPE rating page in a real browser (headless Chromium driven by Selenium, both from
Debian): a study of zoo:consistency's samples and MNIST test images, served on a free port;
the test starts a session, judges five images (clicks and the R/F keys), reads the accuracy
shown at the end of the first session (4 images) and checks every answer in the database.

Usage: test_hype_browser.py PATH/TO/trilemma   (TRILEMMA_DATA_DIR must hold MNIST;
TRILEMMA_HYPE_SCREENSHOT=FILE.png also saves the page as the first image is shown)
"""
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def start_server(cli, db, log_path):
    log = open(log_path, "w")
    server = subprocess.Popen([cli, "hype", "zoo:consistency", "--n-per-model", "5", "--reals", "5",
                               "--session-size", "4", "--port", "0", "--db", db],
                              stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 180
    while time.time() < deadline:
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)/", open(log_path).read())
        if match:
            return server, int(match.group(1))
        if server.poll() is not None:
            fail("the server exited: " + open(log_path).read())
        time.sleep(0.1)
    server.kill()
    fail("the server did not start: " + open(log_path).read())


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=390,844"):  # a phone-sized window
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def main():
    if len(sys.argv) != 2:
        fail("usage: test_hype_browser.py PATH/TO/trilemma")
    if not os.environ.get("TRILEMMA_DATA_DIR"):
        print("SKIP: needs MNIST (TRILEMMA_DATA_DIR)")
        sys.exit(77)
    work = tempfile.mkdtemp(prefix="trilemma-hype-browser-")
    db = os.path.join(work, "study.db")
    server, port = start_server(sys.argv[1], db, os.path.join(work, "server.txt"))
    driver = None
    try:
        driver = browser()
        wait = WebDriverWait(driver, 30)
        driver.get("http://127.0.0.1:%d/" % port)
        # Nothing on the page may come from elsewhere (it is self-contained).
        for element in driver.find_elements(By.CSS_SELECTOR, "script[src], link[href], img[src^='http']"):
            fail("external resource: " + element.get_attribute("outerHTML"))
        driver.find_element(By.ID, "start").click()
        said = []  # (image id, said real)
        for k in range(5):
            if k == 4:  # the first session (4 images) is over: its accuracy is shown
                summary = wait.until(ready.visibility_of_element_located((By.ID, "accuracy"))).text
                if not re.search(r"right on \d of 4", summary):
                    fail("no session accuracy shown: " + summary)
                accuracy_shown = summary
                driver.find_element(By.ID, "continue").click()
            wait.until(lambda d: d.find_element(By.ID, "image").get_attribute("data-ready")
                       and d.find_element(By.ID, "image").get_attribute("data-ready") not in [i for i, _ in said])
            wait.until(ready.element_to_be_clickable((By.ID, "real")))
            image = driver.find_element(By.ID, "image").get_attribute("data-ready")
            width = driver.find_element(By.ID, "image").size["width"]
            if not 100 <= width <= 390:
                fail("the image is %d px wide in a 390 px window" % width)
            if k == 0 and os.environ.get("TRILEMMA_HYPE_SCREENSHOT"):
                driver.save_screenshot(os.environ["TRILEMMA_HYPE_SCREENSHOT"])
            said_real = k in (0, 3)
            if k < 2:  # click
                driver.find_element(By.ID, "real" if said_real else "fake").click()
            else:  # the keyboard
                driver.find_element(By.TAG_NAME, "body").send_keys("r" if said_real else "f")
            said.append((image, said_real))
        # The fifth answer must reach the database before the check.
        deadline = time.time() + 30
        rows = []
        while time.time() < deadline:
            with sqlite3.connect(db) as connection:
                rows = connection.execute(
                    "SELECT i.token, a.said_real, a.position, i.model_id IS NULL FROM answers a "
                    "JOIN images i ON i.id = a.image_id ORDER BY a.position").fetchall()
            if len(rows) == 5:
                break
            time.sleep(0.2)
        if [(token, bool(real)) for token, real, _, _ in rows] != said:
            fail("stored answers %s differ from the clicks %s" % (rows, said))
        if [position for _, _, position, _ in rows] != list(range(5)):
            fail("positions %s" % rows)
        correct = sum(1 for _, real, _, truth in rows[:4] if bool(real) == bool(truth))
        if "right on %d of 4" % correct not in accuracy_shown:
            fail("the page said '%s' but the database has %d of 4 right" % (accuracy_shown, correct))
        with sqlite3.connect(db) as connection:
            raters = connection.execute("SELECT COUNT(*) FROM raters").fetchone()[0]
        if raters != 1:
            fail("%d raters for one browser" % raters)
        print("PASS: 5 answers stored as clicked; session accuracy shown: " + accuracy_shown)
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
