"""`make demo` installs the product alone and compiles its kernels before the demo runs; the
test toolchain is `make test`'s and `make lint`'s (the Makefile, read with `make -n`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _recipe(target: str, venv: Path) -> list[str]:
    """The commands `make TARGET` would run from scratch, one per line."""
    done = subprocess.run(
        ["make", "-n", "-B", target, f"VENV={venv}"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.splitlines()


def test_demo_installs_the_product_without_the_test_extra(tmp_path: Path) -> None:
    lines = _recipe("demo", tmp_path / "venv")
    installs = [line for line in lines if "pip install" in line]
    assert installs, lines
    assert all("-e ." in line and "[test]" not in line for line in installs), installs
    steps = [
        i for i, line in enumerate(lines) if "pip install" in line or "prepare kernels" in line
    ]
    demo = next(i for i, line in enumerate(lines) if line.endswith("bin/driftstream demo"))
    assert steps and max(steps) < demo  # installed, then compiled, then the demo
    assert any("prepare kernels" in line for line in lines)


def test_test_and_lint_install_the_test_extra(tmp_path: Path) -> None:
    installs = [line for line in _recipe("venv", tmp_path / "venv") if "pip install" in line]
    assert installs and all("'.[test]'" in line for line in installs), installs
