"""The public API is what __all__ says, and importing sxhub has no side effects."""

from __future__ import annotations

import subprocess
import sys

import sxhub


def test_all_names_exist() -> None:
    for name in sxhub.__all__:
        assert hasattr(sxhub, name), name
    public = {n for n in dir(sxhub) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(sxhub, n)).__name__ == "module"}
    assert public - modules == set(sxhub.__all__) - {"__version__"}


def test_import_has_no_side_effects() -> None:
    code = (
        "import logging, os, warnings; env = dict(os.environ); n = len(warnings.filters);"
        "import sxhub; assert dict(os.environ) == env; assert len(warnings.filters) == n;"
        "assert not logging.getLogger().handlers; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


def test_cli_version_and_unknown_verb() -> None:
    from click.testing import CliRunner

    from sxhub.cli import cli

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and sxhub.__version__ in result.output
    result = CliRunner().invoke(cli, ["no-such-verb"])
    assert result.exit_code == 2 and "No such command" in result.output
