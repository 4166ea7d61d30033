"""Every ``sxhub`` command line in README.md (and docs/*.md) parses: no unknown option, bad choice or value out of range.

Options gained checks and some were renamed or moved to other verbs; a README line the CLI refuses is the first thing
a new user copies. Each line is read the way the shell and click read it, and ``make_context`` builds the verb's
context without running the command body, so nothing is loaded, labelled or trained. The checks that run inside
command bodies (``only_applies``/``requires``: an option given without its partner) are not reached here; they are
covered by tests/test_cli_option_needs.py.

The lines: every line of a fenced code block that runs ``sxhub`` (backslash continuations joined, ``&&`` split,
``# comments`` dropped; ``torchrun ... -m sxhub`` too), and every inline code span that starts with ``sxhub``. Rules:

- a usage sketch is skipped: a line with ``...``, ``[``, ``|`` or ``{{`` (optional parts, alternatives, templates);
- an inline span whose verb is followed by an option or nothing (``sxhub predict --bf16``) is a fragment: a missing
  argument or required option is allowed, and so is a last option without its value (``sxhub review --queue``);
  anything else it names must parse; every other line must parse whole;
- placeholders that must be numbers (``--n N``) get a number from PLACEHOLDERS; other capitals (TASK, MODEL_DIR)
  are paths or names and are kept; no path needs to exist (``exists=True`` is switched off for the check).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from sxhub.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SKIP = ("...", "[", "|", "{{")  # usage sketches and templates: not a command line
PLACEHOLDERS = {"N": "8", "X": "0.9", "K": "5", "M": "10", "P": "7860", "I/N": "0/2"}
FENCE = re.compile(r"^\s*```.*?^\s*```", re.S | re.M)
INLINE = re.compile(r"`(sxhub\s[^`]*?)`")


@dataclass(frozen=True)
class DocLine:
    where: str  # file:line
    text: str
    fragment: bool  # an inline mention of a verb and some of its options, not a whole command


def _block_lines(block: str, first_line: int, name: str) -> list[DocLine]:
    found = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        start, text = i, lines[i]
        while text.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            text = text.rstrip()[:-1] + " " + lines[i].strip()
        i += 1
        try:
            tokens = shlex.split(text, comments=True)
        except ValueError:
            continue
        parts: list[list[str]] = [[]]
        for token in tokens:
            if token == "&&":
                parts.append([])
            else:
                parts[-1].append(token)
        for words in parts:
            if "sxhub" in words and (words[0] == "sxhub" or words[words.index("sxhub") - 1] == "-m"):
                command = " ".join(shlex.quote(w) for w in words[words.index("sxhub") :])
                found.append(DocLine(f"{name}:{first_line + start}", command, fragment=False))
    return found


def doc_lines(path: Path) -> list[DocLine]:
    """The sxhub command lines of one Markdown file, in order."""
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(ROOT).as_posix()
    found: list[DocLine] = []
    for fence in FENCE.finditer(text):
        found += _block_lines(fence.group(0), text.count("\n", 0, fence.start()) + 1, name)
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)  # same line numbers, no code blocks
    for span in INLINE.finditer(prose):
        words = span.group(1).split()
        line = prose.count("\n", 0, span.start()) + 1
        fragment = len(words) < 3 or words[2].startswith("-")
        found.append(DocLine(f"{name}:{line}", " ".join(words), fragment=fragment))
    return found


LINES = [line for doc in DOCS for line in doc_lines(doc)]
CHECKED = [line for line in LINES if not any(mark in line.text for mark in SKIP)]


def test_enough_lines_are_checked() -> None:
    """The extraction finds the README's commands: a change that made it find none would pass every case below."""
    assert len(CHECKED) >= 100, [line.text for line in CHECKED]
    assert sum(not line.fragment for line in CHECKED) >= 30
    assert len(LINES) - len(CHECKED) <= 20, [line.text for line in LINES if line not in CHECKED]


@pytest.mark.parametrize("line", CHECKED, ids=[f"{line.where} {line.text[:60]}" for line in CHECKED])
def test_doc_command_line_parses(line: DocLine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # relative output paths land in a fresh folder; no input path exists
    words = [PLACEHOLDERS.get(w, w) for w in shlex.split(line.text)]
    assert words[0] == "sxhub"
    command: click.Command = cli
    name, args = "sxhub", words[1:]
    while isinstance(command, click.Group):
        assert args, f"{line.where}: `{line.text}` names no verb"
        name, args = args[0], args[1:]
        found = command.get_command(click.Context(command), name)
        assert found is not None, f"{line.where}: `{line.text}`: sxhub has no verb {name!r}"
        command = found
    options = {opt: param for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    last = options.get(args[-1]) if args else None
    if line.fragment and isinstance(last, click.Option) and not last.is_flag:
        args = args[:-1]  # a fragment may end at an option that takes a value (`sxhub review --queue`): it exists
    for param in command.params:
        if isinstance(param.type, click.Path):
            monkeypatch.setattr(param.type, "exists", False)
    try:
        command.make_context(name, args)
    except click.MissingParameter:
        if not line.fragment:
            raise
    except click.UsageError as error:
        pytest.fail(f"{line.where}: the CLI refuses `{line.text}`: {error.format_message()}")
