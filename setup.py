"""Build hook: the wheel carries the card templates, the Space and the examples under ``sxhub/_assets/``.

They live once, at the top of the repository (where the docs and `make demo` point); this ``build_py`` copies them
into the built package, so git holds no second copy. All other metadata is in pyproject.toml. An editable install
skips the copy: ``sxhub._paths.asset_dir`` then reads the checkout's folders. The sdist carries the folders
(MANIFEST.in), so a wheel built from it is complete too.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.errors import FileError

ASSETS = ("model_cards", "dataset_cards", "spaces", "examples")  # keep in step with sxhub/_paths.py
SKIP_DIRS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo"}


class build_py_with_assets(build_py):
    """``build_py`` that also copies the top-level asset folders to ``<build_lib>/sxhub/_assets/``."""

    def _asset_files(self) -> dict[str, str]:
        """Build path -> source path of every asset file (paths relative to the project root, as setuptools uses)."""
        files: dict[str, str] = {}
        target = Path(self.build_lib, "sxhub", "_assets")
        for name in ASSETS:
            root = Path(name)
            if not root.is_dir():
                raise FileError(
                    f"{root.resolve()} is missing: sxhub's wheel must ship {name}/ (build from a checkout or sdist)"
                )
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and not SKIP_DIRS & set(rel.parts) and path.suffix not in SKIP_SUFFIXES:
                    files[str(target / name / rel)] = str(path)
        return files

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for dest, src in self._asset_files().items():
            self.mkpath(str(Path(dest).parent))
            self.copy_file(src, dest, preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        return outputs if self.editable_mode else [*outputs, *self._asset_files()]

    def get_output_mapping(self) -> dict[str, str]:
        mapping = dict(super().get_output_mapping())
        if not self.editable_mode:
            mapping.update(self._asset_files())
        return mapping


setup(cmdclass={"build_py": build_py_with_assets})
