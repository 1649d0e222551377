"""The documentation stays true to the code: generated reference pages are current, every
documented command exists, every link reaches a page and a heading, and CONTRIBUTING's map of
the tree matches the tree."""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from mileage.cli import app
from mileage.cli._docs import REGENERATE, render_all, setting_descriptions

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "mileage"
REFERENCE = ROOT / "docs" / "reference"
#: Pages whose ``mileage ...`` command lines are checked against the Typer app.
COMMAND_PAGES = sorted(
    [ROOT / "README.md", ROOT / "docs" / "tutorial.md", *(ROOT / "docs" / "how-to").glob("*.md")]
)
GLOBAL_OPTIONS = {"--config", "--db-url"}
SHELL_FENCES = {"", "bash", "sh", "shell", "console"}


def test_generated_reference_pages_are_current() -> None:
    pages = render_all()
    stale = [
        name
        for name, text in pages.items()
        if not (REFERENCE / name).exists() or (REFERENCE / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, (
        f"docs/reference/{', '.join(stale)} no longer match the code; regenerate them from the "
        f"repository root with `{REGENERATE}` and commit the result"
    )
    # the pages depend on the code only, never on where or by whom they were generated
    local = [str(Path.cwd()), str(Path.home()), str(ROOT)]
    leaks = [(n, p) for n, text in pages.items() for p in local if len(p) > 1 and p in text]
    assert not leaks, f"generated pages name local paths: {leaks}"


def test_every_setting_has_a_description() -> None:
    missing = [name for name, text in setting_descriptions().items() if not text]
    assert not missing, (
        f"settings {missing} have no description; add a line for each to the 'Attributes:' "
        f"section of Settings' docstring, then run `{REGENERATE}`"
    )


# -- documented commands ---------------------------------------------------------------------


def _command_lines(text: str) -> list[str]:
    """``mileage ...`` invocations in fenced shell blocks and in inline code."""
    found: list[str] = []
    fence: str | None = None  # the language of the open fenced block
    joined = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("```"):
            fence = None if fence is not None else line[3:].strip()
            continue
        if fence is not None:
            if fence not in SHELL_FENCES:
                continue  # program output or another language
            joined += line.removesuffix("\\").strip() + " "
            if line.endswith("\\"):
                continue
            for part in joined.split(";"):
                part = part.split(" #", 1)[0].strip().removeprefix("$ ")
                if part.startswith("mileage "):
                    found.append(part)
            joined = ""
        else:
            # placeholders such as `mileage <noun> <verb>` describe the grammar, not a command
            found += [m for m in re.findall(r"`(mileage [^`<]+)`", line)]
    return found


@functools.cache
def _root_command() -> Any:
    return typer.main.get_command(app)


def _resolve(line: str) -> tuple[list[str], Any, list[str]]:
    """The command path a line names, the click command it reaches, and its option tokens."""
    tokens = shlex.split(line)[1:]
    command: Any = _root_command()
    ctx = typer.Context(command, info_name="mileage")
    path = ["mileage"]
    while tokens and tokens[0] in GLOBAL_OPTIONS:
        tokens = tokens[2:]
    while hasattr(command, "commands") and tokens:
        try:
            name, sub, rest = command.resolve_command(ctx, tokens)
        except Exception:
            if tokens[0].startswith("-"):
                break  # options of the group itself
            raise
        assert sub is not None, f"{line!r}: {' '.join(path)} has no command {tokens[0]!r}"
        assert not sub.hidden, f"{line!r} uses the old spelling {name!r}; use the new grammar"
        path.append(str(name))
        command, tokens = sub, rest
        ctx = typer.Context(command, info_name=name, parent=ctx)
    options = [t.split("=", 1)[0] for t in tokens if t.startswith("--")]
    return path, command, options


@pytest.mark.parametrize("page", COMMAND_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_exist(page: Path) -> None:
    if not page.exists():
        pytest.skip(f"{page.relative_to(ROOT)} is not written yet")
    lines = _command_lines(page.read_text(encoding="utf-8"))
    wrong = []
    for line in lines:
        try:
            path, command, options = _resolve(line)
        except Exception as exc:  # click's UsageError for an unknown command, or ours
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            wrong.append(f"{line!r}: {first}")
            continue
        known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        known.add("--help")
        unknown = [o for o in options if o not in known]
        if unknown and not hasattr(command, "commands"):
            wrong.append(f"{line!r}: {' '.join(path)} has no option {unknown}")
    assert not wrong, f"{page.relative_to(ROOT)}:\n" + "\n".join(wrong)


def test_the_command_checker_sees_wrong_commands() -> None:
    with pytest.raises(Exception, match=r"no command|No such command"):
        _resolve("mileage collect nothing-here")
    with pytest.raises(AssertionError, match="old spelling"):
        _resolve("mileage train warmstart")
    assert _resolve("mileage warmstart data.csv --target y")[0][-1] == "recommend"
    assert _command_lines("```bash\nmileage monitor list; mileage monitor remove a --yes\n```") == [
        "mileage monitor list",
        "mileage monitor remove a --yes",
    ]
    assert _command_lines("```text\nmileage [OPTIONS] COMMAND\n```\nrun `mileage status`") == [
        "mileage status"
    ]


def test_readme_keeps_the_two_commands_first() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```", 2)[1]
    assert "make run" in first_block and "make test" in first_block
    assert len(text.splitlines()) < 250, "README.md: keep it under 250 lines; move detail to docs/"


# -- CONTRIBUTING ----------------------------------------------------------------------------


def _where_things_go() -> str:
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text.split("## Where things go", 1)[1].split("\n## ", 1)[0]
    return "\n".join(line for line in section.splitlines() if line.startswith("|"))


def test_contributing_names_paths_that_exist() -> None:
    missing = []
    for row in _where_things_go().splitlines():
        cells = [c.strip().strip("`") for c in row.strip("|").split("|")]
        home = ROOT / cells[1] if len(cells) > 1 else ROOT  # the row's path column
        for name in re.findall(r"`([^`\s]+/[^`\s]*)`", row):
            base = name.split("<", 1)[0].split("{", 1)[0]
            # a name in the notes may be relative to the row's path, or to its parent
            if not any((root / base).exists() for root in (ROOT, home, home.parent)):
                missing.append(name)
    assert not missing, (
        f"CONTRIBUTING.md 'Where things go' names paths that do not exist: {missing}"
    )


def test_contributing_names_every_subpackage() -> None:
    table = _where_things_go()
    packages = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").exists())
    unnamed = [p for p in packages if f"src/mileage/{p}/" not in table]
    assert not unnamed, (
        f"CONTRIBUTING.md 'Where things go' does not say what goes in src/mileage/{unnamed}; "
        "add a row per subpackage"
    )


# -- links -----------------------------------------------------------------------------------

DOC_PAGES = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])


def _slug(heading: str) -> str:
    """The anchor a forge (and mkdocs' toc) gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", text, flags=re.M)}


def _nav_pages() -> set[Path]:
    """Pages the site's navigation promises (``mkdocs.yml``), some written separately."""
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    return {(ROOT / "docs" / m).resolve() for m in re.findall(r":\s*(\S+\.md)\s*$", text, re.M)}


def _broken_links(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    wrong = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            if dest not in _nav_pages():
                wrong.append(f"{target}: no such file")
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            wrong.append(f"{target}: no heading with anchor #{anchor}")
    return wrong


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_point_at_pages_and_headings_that_exist(page: Path) -> None:
    wrong = _broken_links(page)
    assert not wrong, f"{page.relative_to(ROOT)}: " + "; ".join(wrong)


def test_the_link_checker_sees_broken_links(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\n## Collecting `MLflow` (fast)\n")
    page = tmp_path / "b.md"
    page.write_text(
        "[ok](a.md#collecting-mlflow-fast) [bad](a.md#nothing) [gone](c.md) [web](https://x.org)"
    )
    assert _broken_links(page) == [
        "a.md#nothing: no heading with anchor #nothing",
        "c.md: no such file",
    ]
