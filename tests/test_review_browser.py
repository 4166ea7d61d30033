"""The review app in a real browser: Debian's chromium driven through its chromedriver with selenium.

A reviewer opens ``sxhub review``, labels three texts by clicking and by keyboard, reloads the page, the app is
killed and started again, and the decisions are all there and the queue resumes at the fourth text.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_review import labelled_rows, queue_rows

from sxhub.data import write_table

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WAIT_S = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_app(args: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """``sxhub review ... --port PORT`` in its own process, once it answers HTTP."""
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sxhub", "review", *args, "--port", str(port)], stdout=out, stderr=out, env=env
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sxhub review exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"sxhub review did not answer on port {port} in 120 s: {log.read_text()[-2000:]}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no clean shutdown, nothing flushed on the way out."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)


def _page(driver: Any) -> tuple[Callable[[], str], Callable[[], str], Callable[[Callable[[], bool]], None]]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def text() -> str:
        return str(driver.find_element(By.CSS_SELECTOR, "#sxr-text textarea").get_attribute("value"))

    def progress() -> str:
        return str(driver.find_element(By.ID, "sxr-progress").text)

    def wait(condition: Callable[[], bool]) -> None:
        WebDriverWait(driver, WAIT_S).until(lambda _: condition())

    return text, progress, wait


def _press(driver: Any, key: str) -> None:
    """A key pressed on the page itself (not in a text field), as a reviewer does."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.find_element(By.TAG_NAME, "h1").click()  # focus the page, away from the Reviewer box
    ActionChains(driver).send_keys(key).perform()


def test_label_by_click_and_key_then_reload_kill_restart_and_resume(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    rows = labelled_rows()
    labelled = tmp_path / "labelled.parquet"
    pd.DataFrame(rows).to_parquet(labelled)
    order = [7, 2, 0, 5, 1, 3, 6, 8]
    queue = write_table(pd.DataFrame(queue_rows(rows, order)), tmp_path / "queue.parquet")
    texts = [rows[i]["text"] for i in order]
    port, log = _free_port(), tmp_path / "app.log"
    args = [str(labelled), "--queue", str(queue), "--reviewer", "alice"]
    proc = _start_app(args, port, log)
    try:
        url = f"http://127.0.0.1:{port}/"
        browser.get(url)
        text, progress, wait = _page(browser)
        wait(lambda: text() == texts[0])
        facts = browser.find_element(By.ID, "sxr-facts").text
        assert "neutral" in facts and "doubt" in facts  # the current label, suggested, doubt and signals
        assert "reason 7.0" in browser.find_element(By.ID, "sxr-votes").text  # the teacher's votes with reasons

        browser.find_element(By.ID, "sxr-label-3").click()  # text 1 (row 7, neutral): click "3 negative"
        wait(lambda: text() == texts[1])
        _press(browser, "1")  # text 2 (row 2, negative): key 1 = positive
        wait(lambda: text() == texts[2])
        _press(browser, "k")  # text 3 (row 0, positive): keep
        wait(lambda: text() == texts[3])
        wait(lambda: "3 of 8 decided (2 changed)" in progress())

        browser.refresh()  # a new page session resumes at the first undecided text
        wait(lambda: text() == texts[3])
        assert "3 of 8 decided" in progress()

        _kill(proc)  # the app dies without warning...
        proc = _start_app(args, port, log)  # ...and starts again over the same decisions file
        browser.get(url)
        wait(lambda: text() == texts[3])
        wait(lambda: "3 of 8 decided (2 changed)" in progress())

        _press(browser, "b")  # back shows the reviewer's own earlier decision
        wait(lambda: text() == texts[2])
        assert "You kept" in browser.find_element(By.ID, "sxr-facts").text
    finally:
        _kill(proc)

    lines = [json.loads(line) for line in (tmp_path / "labelled.decisions.jsonl").read_text().splitlines()]
    assert [(e["reviewer"], e["row"], e["action"], e["labels"]) for e in lines] == [
        ("alice", 7, "label", ["negative"]),
        ("alice", 2, "label", ["positive"]),
        ("alice", 0, "keep", ["positive"]),
    ]


def test_multi_label_keys_toggle_labels_and_enter_saves_for_the_reviewer_in_the_link(
    browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    from sxhub.review import launch_review
    from sxhub.spec import TaskSpec

    spec = TaskSpec(name="topics", labels=["price", "delivery", "quality"], multi_label=True, teachers=["local"])
    data = tmp_path / "topics.jsonl"
    write_table(pd.DataFrame({"text": ["late and broken", "cheap"], "labels": [["delivery"], ["price"]]}), data)
    demo, url, review = launch_review(data, spec=spec, reviewer="", port=_free_port(), block=False)
    try:
        browser.get(url + "?reviewer=bob")  # a link can name the reviewer (a Space shared with several people)
        text, progress, wait = _page(browser)
        wait(lambda: text() == "late and broken")
        _press(browser, "3")  # tick quality beside the current delivery
        wait(lambda: browser.find_elements(By.CSS_SELECTOR, "#sxr-choices input[type=checkbox]")[2].is_selected())
        _press(browser, "\ue007")  # Enter saves the ticked labels
        wait(lambda: text() == "cheap")
        wait(lambda: "1 of 2 decided (1 changed)" in progress())
        _press(browser, "u")  # undo brings the text back
        wait(lambda: text() == "late and broken")
    finally:
        demo.close()
    events = [json.loads(line) for line in (tmp_path / "topics.decisions.jsonl").read_text().splitlines()]
    assert [e["action"] for e in events] == ["label", "undo"]
    assert events[0]["labels"] == ["delivery", "quality"] and events[0]["reviewer"] == "bob"
    assert review.progress("bob")["decided"] == 0


def test_markup_in_texts_reasons_and_definitions_shows_as_written(browser: Any, tmp_path: Path) -> None:
    """A teacher's reason that quotes markdown, HTML or LaTeX is shown as those characters: no bold, no link, no
    image fetched from the address in it, no formula; a right-to-left text reads from the right."""
    from selenium.webdriver.common.by import By

    from sxhub.review import launch_review
    from sxhub.spec import TaskSpec

    markup = "<b>b</b> **bold** [link](http://example.com) ![pic](http://127.0.0.1:9/t.png) $$x^2$$ a|b"
    vote = {"teacher": "t<i>1</i>", "sample": 0, "labels": ["neutral"], "reason": markup, "error": "", "raw": "{}"}
    rtl = "2024: الأرباح ارتفعت بنسبة 5%."
    rows = [
        {"text": markup, "label": "neutral", "votes": [vote]},
        {"text": rtl, "label": "positive", "votes": [{**vote, "reason": "ok"}]},
    ]
    data = write_table(pd.DataFrame(rows), tmp_path / "markup.parquet")
    labels = [{"name": "positive", "description": "**good** news | $$a$$"}, "neutral", "negative"]
    spec = TaskSpec(name="markup", labels=labels, teachers=["local"])
    demo, url, _ = launch_review(data, spec=spec, reviewer="", port=_free_port(), block=False)
    try:
        browser.get(url + "?reviewer=ann")
        text, _, wait = _page(browser)
        wait(lambda: text() == markup)  # the text box shows the text as it is
        votes = browser.find_element(By.ID, "sxr-votes")
        wait(lambda: "**bold**" in votes.text)
        cells = [td.text for td in votes.find_elements(By.TAG_NAME, "td")]
        assert cells == ["t<i>1</i>", "0", "neutral", markup]
        for tag in ("img", "a", "strong", "b", "i", "math"):
            assert not votes.find_elements(By.TAG_NAME, tag), tag
        page = browser.find_element(By.TAG_NAME, "body").text
        assert "**good** news | $$a$$" in page  # the label definition, as written
        assert not browser.find_elements(By.CSS_SELECTOR, ".katex")

        browser.find_element(By.ID, "sxr-skip").click()
        wait(lambda: text() == rtl)
        box = browser.find_element(By.CSS_SELECTOR, "#sxr-text textarea")
        assert browser.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", box) == "plaintext"
    finally:
        demo.close()


def test_two_reviewers_at_once_and_a_reload_resumes_the_typed_name(browser: Any, tmp_path: Path) -> None:
    """As on a review Space (no --reviewer): carol types her name and decides two texts while dave, in another
    window, decides the first text otherwise; carol reloads and is back at her third text under her name, each
    sees their own progress, and the log holds both, interleaved, with carol's later change winning."""
    from selenium.webdriver.common.by import By

    from sxhub.review import launch_review
    from sxhub.review_log import final_decisions, read_events

    rows = labelled_rows()
    labelled = tmp_path / "labelled.parquet"
    pd.DataFrame(rows).to_parquet(labelled)
    order = [7, 2, 0, 5, 1, 3, 6, 8]
    queue = write_table(pd.DataFrame(queue_rows(rows, order)), tmp_path / "queue.parquet")
    texts = [rows[i]["text"] for i in order]
    demo, url, review = launch_review(labelled, queue=queue, reviewer="", port=_free_port(), block=False)
    try:
        browser.get(url)
        text, progress, wait = _page(browser)
        wait(lambda: "Type your name" in progress())
        who = browser.find_element(By.CSS_SELECTOR, "#sxr-who input, #sxr-who textarea")
        who.send_keys("carol\n")
        wait(lambda: "carol" in progress())
        browser.find_element(By.ID, "sxr-label-1").click()  # text 1: positive
        wait(lambda: text() == texts[1])
        browser.find_element(By.ID, "sxr-keep").click()  # text 2: keep
        wait(lambda: text() == texts[2])

        carol = browser.current_window_handle
        browser.switch_to.new_window("tab")
        browser.get(url + "?reviewer=dave")
        wait(lambda: text() == texts[0] and "dave" in progress())  # dave starts at the top: carol's work is hers
        browser.find_element(By.ID, "sxr-label-2").click()  # text 1: neutral
        wait(lambda: "1 of 8 decided" in progress())
        browser.close()
        browser.switch_to.window(carol)

        _press(browser, "b")  # carol goes back two texts and changes her first decision
        wait(lambda: text() == texts[1])
        _press(browser, "b")
        wait(lambda: text() == texts[0])
        browser.find_element(By.ID, "sxr-label-3").click()  # text 1: negative now
        wait(lambda: text() == texts[2])

        browser.refresh()  # a reload knows carol without her typing again, and resumes at her third text
        wait(lambda: text() == texts[2] and "carol: 2 of 8 decided" in progress())
        assert browser.find_element(By.CSS_SELECTOR, "#sxr-who input, #sxr-who textarea").get_attribute("value") == (
            "carol"
        )
    finally:
        demo.close()
    events = read_events([tmp_path / "labelled.decisions.jsonl"])
    assert [(e["reviewer"], e["row"], e["labels"]) for e in events] == [
        ("carol", 7, ["positive"]),
        ("carol", 2, ["negative"]),
        ("dave", 7, ["neutral"]),
        ("carol", 7, ["negative"]),
    ]
    finals = final_decisions(events)
    assert finals["carol"][7]["labels"] == ["negative"] and finals["dave"][7]["labels"] == ["neutral"]
    assert review.progress("carol")["decided"] == 2 and review.progress("dave")["decided"] == 1
