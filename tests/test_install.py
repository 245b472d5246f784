"""A newcomer's set-up: the README's two Quick start commands, in order, in a fresh virtualenv.

The first installs lstmkit and runs `lstmkit demo`; the second reinstalls it editable and runs
the tests. Run in that order they once left a broken install: the demo's compiled kernels were
cached inside site-packages/lstmkit, which pip does not know, so the uninstall left a folder
that Python took for an empty namespace package. This test runs both commands as the README
writes them (the second's test run narrowed to one small test file, since this test is part of
that run), then imports lstmkit and runs the demo from another folder. To keep it short, the
second command builds without pip's isolated build environment (the first covers that path, and
installing numba, NumPy and SciPy into a second one takes a quarter of a minute).

The build compiles the kernels into the wheel (setup.py, lstmkit.warmup), so the first demo after
the first command compiles nothing: it loads them from the installed package, read only, and its
user cache folder stays empty. The editable install compiles them into the user cache instead.
To keep this test short, both builds compile only the per-sample engine's float32 kernels (the demo's:
$LSTMKIT_WARMUP), not those of the batched and blocked engines.

The virtualenv sees the machine's site-packages, so pip finds torch and the other pinned
dependencies already installed and installs only lstmkit itself. The build's warm-up runs with
PyTorch blocked all the same (setup.py), as in a new environment, where pip builds lstmkit before
it installs PyTorch: `python benchmarks/first_run.py --fresh-venv` measures that case in full.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def quick_start_commands():
    """The shell lines of the README's Quick start block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


def copy_checkout(target):
    """The working tree's tracked and unignored files, as a clean clone would hold them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run(command, cwd, env):
    process = subprocess.run(command, cwd=cwd, env=env, shell=True, capture_output=True, text=True,
                             timeout=600)
    assert process.returncode == 0, f"{command!r} failed:\n{process.stdout[-3000:]}\n{process.stderr[-3000:]}"
    return process.stdout


def site_packages(venv):
    return Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))


def installed_files(package_dir):
    return sorted(str(p.relative_to(package_dir)) for p in package_dir.rglob("*") if p.is_file())


# The demo's training and predictions, then how many kernel signatures were loaded and compiled.
DEMO_COMPILES = (
    'python -c "import json; from lstmkit.demo import run_demo; from lstmkit.ops import jit; '
    "run_demo(verbose=0, print_fn=lambda line: None); print(json.dumps(jit.compile_counts()))\""
)


def cached_kernels(folder):
    return sorted(p.name for p in folder.rglob("*") if p.suffix in (".nbi", ".nbc"))


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout")
def test_readme_commands_in_order_leave_a_working_install(tmp_path):
    commands = quick_start_commands()
    assert len(commands) == 2 and "lstmkit demo" in commands[0] and "pytest" in commands[1]
    source, venv, elsewhere = tmp_path / "lstmkit", tmp_path / "venv", tmp_path / "elsewhere"
    copy_checkout(source)
    elsewhere.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", VIRTUAL_ENV=str(venv),
               LSTMKIT_CACHE_DIR=str(tmp_path / "cache"), MPLBACKEND="Agg", PIP_DISABLE_PIP_VERSION_CHECK="1",
               LSTMKIT_WARMUP="per-sample,float32")
    package_dir = site_packages(venv) / "lstmkit"

    out = run(commands[0], source, env)
    assert "naive (yesterday)" in out and (source / "lstmkit_demo.png").stat().st_size > 10_000
    # The wheel carried the compiled kernels (listed in its RECORD, so pip removes them), and the
    # first demo loaded them: it compiled nothing, so nothing went into the user's cache folder.
    shipped = [name for name in installed_files(package_dir) if name.endswith((".nbi", ".nbc"))]
    assert shipped and all(name.startswith("_kernels/") for name in shipped)
    record = next(site_packages(venv).glob("lstmkit-*.dist-info")).joinpath("RECORD").read_text()
    assert all(f"lstmkit/{name}," in record for name in shipped)
    assert cached_kernels(tmp_path / "cache") == []
    counts = json.loads(run(DEMO_COMPILES, elsewhere, env))
    assert counts["compiled"] == 0 and counts["loaded"] >= 2, counts
    assert cached_kernels(tmp_path / "cache") == []
    # Nothing was written into the installed package at run time: every file there is pip's.
    assert [name for name in installed_files(package_dir) if f"lstmkit/{name}," not in record] == []

    # The second command, its test run narrowed to one small file on one process, and built in
    # this environment: the first command's build already ran in pip's isolated one.
    second = (commands[1].replace("pip install", "pip install --no-build-isolation")
              .replace("python -m pytest -q -n 2", "python -m pytest -q -p no:cacheprovider tests/test_data.py"))
    assert second.count("--no-build-isolation") == 1 and "-n 2" not in second
    out = run(second, source, env)
    assert re.search(r"\d+ passed", out)
    assert not package_dir.exists(), f"the editable install left {installed_files(package_dir)[:5]} behind"

    imported = run('python -c "import lstmkit; from lstmkit import Sequential; print(lstmkit.__file__)"',
                   elsewhere, env)
    assert Path(imported.strip()).resolve() == (source / "lstmkit" / "__init__.py").resolve()
    # The editable install compiled the kernels into the user's cache folder: again nothing to compile.
    assert cached_kernels(tmp_path / "cache")
    out = run("lstmkit demo --no-plot", elsewhere, env)
    assert "Total params: 10,451" in out and "naive (yesterday)" in out
    assert not list(elsewhere.iterdir())  # --no-plot writes nothing
    counts = json.loads(run(DEMO_COMPILES, elsewhere, env))
    assert counts["compiled"] == 0 and counts["loaded"] >= 2, counts
