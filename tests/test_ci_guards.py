"""The test suite's own guards: a missing real component fails under CI=true, and the Hub stand-in misses nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import in_ci, missing_component, require_modules

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_missing_component_fails_in_ci(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci()
    with pytest.raises(pytest.fail.Exception, match=r"chromium not installed.*CI=true.*fails the test"):
        missing_component("chromium not installed")
    with pytest.raises(pytest.fail.Exception, match=r"no_such_module_sxhub not importable: pip install it"):
        require_modules("json", "no_such_module_sxhub", install="pip install it")


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_missing_component_skips_with_the_reason_locally(value: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    assert not in_ci()
    with pytest.raises(pytest.skip.Exception, match="chromium not installed"):
        missing_component("chromium not installed")
    require_modules("json", "pytest", install="never shown")  # all present: nothing happens


UNROUTED_TEST = """
import httpx


def test_calls_a_route_the_stand_in_lacks(hub):
    assert httpx.get(hub.url + "/api/not-a-hub-route/x?y=1").status_code == 404


def test_routed_calls_pass(hub):
    from huggingface_hub import HfApi

    assert HfApi(endpoint=hub.url, token=hub.token).whoami()["name"] == hub.user
"""


def test_hub_fixture_fails_a_test_that_made_an_unrouted_request(tmp_path: Path) -> None:
    """Run a two-test file against the real conftest and stand-in: the unrouted GET errors, naming method and path."""
    shutil.copy(TESTS / "conftest.py", tmp_path / "conftest.py")
    shutil.copytree(TESTS / "hubstub", tmp_path / "hubstub", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "test_unrouted.py").write_text(UNROUTED_TEST, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert "2 passed, 1 error" in output, output[-3000:]  # the unrouted test's call passes; its teardown errors
    assert "ERROR at teardown of test_calls_a_route_the_stand_in_lacks" in output
    assert "the Hub stand-in got 1 request(s) it has no route for: GET /api/not-a-hub-route/x?y=1" in output
