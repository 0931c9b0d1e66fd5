"""Builds the Python package snnkit with CMake (pip install --no-build-isolation . ; see pyproject.toml).

The extension snnkit/_snnkit is the CMake target snnkit_python. It is built in $SNNKIT_BUILD_DIR (default:
build/ of this checkout, so an existing `make build` tree is reused and only what changed is rebuilt), then
copied into the package together with libsnnkit.so (found through the extension's $ORIGIN rpath), so the
installed package does not depend on the build tree.
"""
import glob
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))


class build_with_cmake(build_py):
    def run(self):
        super().run()
        build = os.path.abspath(os.environ.get("SNNKIT_BUILD_DIR", os.path.join(HERE, "build")))
        # SNNKIT_PIP_PREBUILT=1: package what the build tree holds, without building (the test suite installs
        # the module `make build` made: a rebuild while other tests run could relink the library under them)
        if os.environ.get("SNNKIT_PIP_PREBUILT") != "1":
            if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
                subprocess.check_call(["cmake", "-S", HERE, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                                       "-DSNNKIT_PYTHON=" + sys.executable])
            subprocess.check_call(["cmake", "--build", build, "--target", "snnkit_python"])
        dest = os.path.join(self.build_lib, "snnkit")
        libs = glob.glob(os.path.join(build, "python", "snnkit", "_snnkit*.so"))
        libs += glob.glob(os.path.join(build, "libsnnkit.so*"))
        if not any(os.path.basename(p).startswith("_snnkit") for p in libs):
            raise RuntimeError(f"no _snnkit extension in {build}/python/snnkit after the build")
        for p in libs:
            shutil.copy2(p, dest)  # copies the file a symlink points to, under the link's name


class binary_distribution(Distribution):
    def has_ext_modules(self):  # a platform wheel: the package carries compiled code
        return True


setup(options={"build": {"build_base": os.path.join("build", "pip")}},  # not setuptools' default build/lib
      packages=["snnkit"], package_dir={"snnkit": "python/snnkit"}, cmdclass={"build_py": build_with_cmake},
      distclass=binary_distribution, package_data={"snnkit": []}, exclude_package_data={"snnkit": ["*.cpp"]})
