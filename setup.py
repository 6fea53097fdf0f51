"""Builds the _stsw extension with CMake for `pip install .` (see pyproject.toml).

The extension is configured with STSW_PYTHON=ON and this interpreter as
Python3_EXECUTABLE, built (target _stsw only) in build/pip-<python tag>, and copied into
the wheel's stsw/ folder. CMAKE_ARGS adds CMake arguments (e.g. "-DCMAKE_BUILD_TYPE=Release").
"""

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        tag = sysconfig.get_config_var("SOABI") or f"py{sys.version_info[0]}{sys.version_info[1]}"
        build_dir = ROOT / "build" / f"pip-{tag}"
        args = [
            "cmake", "-S", str(ROOT), "-B", str(build_dir), "-G", "Ninja",
            "-DCMAKE_BUILD_TYPE=Release", "-DSTSW_PYTHON=ON", f"-DPython3_EXECUTABLE={sys.executable}",
            "-DSTSW_BUILD_TESTS=OFF", "-DSTSW_BUILD_APPS=OFF", "-DSTSW_BUILD_PERF=OFF",
        ] + shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.run(args, check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_stsw"], check=True)
        built = next((build_dir / "python" / "stsw").glob("_stsw*.so"))
        dest = Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(built), str(dest))


setup(
    ext_modules=[Extension("stsw._stsw", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' own staging out of the way of CMake build trees named build/.
    options={"build": {"build_base": "build/setuptools"}},
)
