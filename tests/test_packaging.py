"""The distribution installs the three folders under `driftstream` only (pyproject.toml's
package-dir mapping); every package of the tree must be listed there, or a wheel would lack it
while an editable install still worked."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("streamer", "detectors", "sinks")


def _setuptools() -> dict[str, object]:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]
    section: dict[str, object] = tool["setuptools"]
    return section


def test_every_package_of_the_tree_is_installed_under_driftstream() -> None:
    found = {
        "driftstream." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(_setuptools()["packages"]) == found  # type: ignore[arg-type]


def test_no_generic_top_level_names_are_claimed() -> None:
    mapping = _setuptools()["package-dir"]
    assert mapping == {f"driftstream.{f}": f for f in FOLDERS}
    packages: list[str] = _setuptools()["packages"]  # type: ignore[assignment]
    assert all(p.startswith("driftstream.") for p in packages)


def test_console_script_and_imports_resolve_through_driftstream() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["driftstream"] == "driftstream.streamer.app.cli:main"
    from driftstream.streamer.app import cli

    assert Path(cli.__file__).resolve() == ROOT / "streamer" / "app" / "cli.py"
