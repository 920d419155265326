"""A fresh install outside the checkout: the package ships its decode configs (setup.cfg
package_data) and its avdm-pack / avdm-enhance / avdm-generate work from the installed copy.

The package is built from a copy of the checkout's package files and installed into a new venv
whose only other path is tools/venv's site-packages (the dependencies, not the checkout's editable
avdm); the commands run with PYTHONPATH unset in a directory outside the checkout.  Without
network the build uses what tools/venv has: ``pip wheel --no-build-isolation`` needs the ``wheel``
package, which tools/requirements.txt does not install, so without it setuptools installs directly.
"""
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

from tests.test_cli_media import face_video, make_exp  # noqa: F401  (face_video is a fixture)

ROOT = Path(__file__).resolve().parents[1]
JOBS = ("generate", "enhance", "enhance_unsup")


def package_sources(dst: Path) -> Path:
    """The files a build of avdm reads, copied from the checkout (tracked or new, not ignored)."""
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    for rel in out.stdout.splitlines():
        if (rel.startswith("avdm/") or rel in ("setup.cfg", "setup.py", "README.md")) and (ROOT / rel).is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dst / rel)
    return dst


def install(src: Path, venv: Path, env: dict) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies: tools/venv's site-packages as a plain path (its .pth files, among them the
    # editable install pointing at the checkout, are not read)
    (site / "avdm_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    if importlib.util.find_spec("wheel") is not None:
        wheels = src.parent / "wheels"
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(wheels), str(src)], check=True, env=env, cwd=src.parent)
        subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                        "--no-index", "-q", *map(str, wheels.glob("avdm-*.whl"))], check=True, env=env, cwd=src.parent)
    else:
        subprocess.run([str(venv / "bin" / "python"), "setup.py", "-q", "install", "--single-version-externally-managed",
                        "--record", str(src.parent / "installed.txt")], check=True, env=env, cwd=src,
                       capture_output=True)


@pytest.mark.slow
def test_a_fresh_install_has_the_decode_configs_and_working_commands(tmp_path, face_video):  # noqa: F811
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    venv, run_dir = tmp_path / "venv", tmp_path / "run"
    run_dir.mkdir()
    install(package_sources(tmp_path / "src"), venv, env)
    shutil.rmtree(tmp_path / "src")  # nothing of the build is left to import from

    def run(*cmd):
        return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, cwd=run_dir)

    out = run(venv / "bin" / "python", "-c", "import avdm; from avdm.inference.decode_config import "
              "shipped_decode_config_path as p; print(avdm.__file__); [print(p(j)) for j in %r]" % (JOBS,))
    assert out.returncode == 0, out.stderr
    paths = [Path(line) for line in out.stdout.split()]
    assert all(venv in p.parents for p in paths), paths  # the installed copy, not the checkout
    for job, path in zip(JOBS, paths[1:]):
        assert yaml.safe_load(path.read_text()) == yaml.safe_load((ROOT / "avdm" / "conf" / f"decode_{job}.yaml").read_text())

    model = tmp_path / "prior.zip"
    out = run(venv / "bin" / "avdm-pack", make_exp(tmp_path / "exp_prior", "prior"), model)
    assert out.returncode == 0 and model.is_file(), out.stderr
    out = run(venv / "bin" / "avdm-enhance", "--model", model, face_video / "talk.mp4", run_dir / "enhanced.mp4")
    assert out.returncode == 0 and (run_dir / "enhanced.mp4").is_file(), out.stderr
    assert f"the shipped default {paths[3]}" in out.stderr  # a prior model: enhance_unsup's config
    out = run(venv / "bin" / "avdm-generate", "--model", model, face_video / "silent.mp4", run_dir / "generated.mp4")
    assert out.returncode == 0 and (run_dir / "generated.mp4").is_file(), out.stderr
    assert f"the shipped default {paths[1]}" in out.stderr
