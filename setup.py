"""Build hook: the wheel carries the top-level configs/ tree as dlrun/configs (package data).

configs/ stays the source at the top of the checkout; an editable install reads it there."""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithConfigs(build_py):
    """build_py that also copies configs/**.yaml into the built package (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        source = Path(__file__).resolve().parent / "configs"
        target = Path(self.build_lib) / "dlrun" / "configs"
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))


setup(cmdclass={"build_py": BuildPyWithConfigs})
