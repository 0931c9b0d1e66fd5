"""`pip install --no-build-isolation .` into a virtual environment made with --system-site-packages (Debian 12's
system interpreter is externally managed), packaging this build tree's module (CMake target snnkit_python, as
`make build` left it: SNNKIT_PIP_PREBUILT=1, no rebuild while other tests run); then snnkit
imports from the venv, away from the source and build trees, and runs a forward + backward."""
import os
import subprocess
import sys

SOURCE = os.environ.get("SNNKIT_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SNNKIT_BUILD_DIR", os.path.join(SOURCE, "build"))


def test_pip_install_into_system_site_venv(tmp_path):
    venv = tmp_path / "venv"
    subprocess.check_call(["/usr/bin/python3", "-m", "venv", "--system-site-packages", str(venv)])
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["SNNKIT_BUILD_DIR"] = BUILD
    env["PIP_NO_INDEX"] = "1"  # nothing may come from a package index
    env["SNNKIT_PIP_PREBUILT"] = "1"  # package the module make build made; never rebuild under running tests
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-deps", "-q", SOURCE],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    probe = (
        "import snnkit, torch, os\n"
        "print(os.path.dirname(snnkit.__file__))\n"
        "x = (torch.rand(4, 3, 5) * 1.5).requires_grad_(True)\n"
        "s, v = snnkit.LIF(alpha=0.9, learn_alpha=True)(x)\n"
        "s.sum().backward()\n"
        "print(int(s.sum().item()) > 0, x.grad.abs().sum().item() > 0)\n"
    )
    r = subprocess.run([str(venv / "bin" / "python"), "-c", probe], env=env, cwd=str(tmp_path),
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    where, flags = r.stdout.split("\n")[:2]
    assert where.startswith(str(venv)), where
    assert flags == "True True"
    assert any(f.startswith("libsnnkit.so") for f in os.listdir(where))  # the package carries the library
