"""The architecture rules of DESIGN.md and the docs contract, checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from smearwatch.cli import cli

ROOT = Path(__file__).resolve().parent.parent
OURS = {"collector", "db", "analysis", "reports", "smearwatch"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", _package_files("collector"), ids=lambda p: p.name)
def test_collector_imports_nothing_else_of_ours(path: Path) -> None:
    foreign = {n for n in _imports(path) if n.split(".")[0] in OURS - {"collector"}}
    assert not foreign, f"{path.name} imports {foreign}"


@pytest.mark.parametrize("path", _package_files("db"), ids=lambda p: p.name)
def test_db_imports_only_collector_post(path: Path) -> None:
    ours = {n for n in _imports(path) if n.split(".")[0] in OURS - {"db"}}
    assert ours <= {"collector.post"}, f"{path.name} imports {ours}"


@pytest.mark.parametrize("path", _package_files("analysis"), ids=lambda p: p.name)
def test_analysis_never_imports_platform_modules(path: Path) -> None:
    ours = {n for n in _imports(path) if n.split(".")[0] in {"collector", "smearwatch", "reports"}}
    assert ours <= {"collector.post"}, f"{path.name} imports {ours}"


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_help_and_is_in_the_readme(name: str) -> None:
    command = cli.commands[name]
    assert command.help and len(command.help) > 40
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"smearwatch {name}" in readme


@pytest.mark.parametrize("path", _package_files("reports"), ids=lambda p: p.name)
def test_reports_never_import_the_shell_or_collectors(path: Path) -> None:
    """reports/ takes plain inputs (reports.settings); the shell builds them from the config."""
    ours = {n for n in _imports(path) if n.split(".")[0] in {"collector", "smearwatch"}}
    assert not ours, f"{path.name} imports {ours}"
