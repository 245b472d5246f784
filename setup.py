"""The build step's one addition to setuptools: compile lstmkit's kernels while building it.

`pip install .` builds a wheel; after copying the package into build/lib, this runs
`python -m lstmkit.warmup --into build/lib/lstmkit/_kernels`, so the wheel carries the compiled
kernels and the first run after the install compiles nothing. `pip install -e .` runs the same
warm-up on the source tree, into the user's kernel cache (the package folder is the checkout).

The warm-up runs in a child process of the interpreter being installed into, on pip's isolated
build environment: pyproject.toml's build requirements, numba, numpy and scipy pinned to the
versions constraints.txt pins (so the compiled kernels match the runtime's), and no PyTorch,
which a new environment gets only after lstmkit is built. The kernel modules need none
(lstmkit/warmup.py calls them directly), so the child imports them without lstmkit's package
__init__ files, which import PyTorch, and with PyTorch blocked, so that every build compiles the
same kernels whether PyTorch is installed or not. Where the warm-up fails, the build goes on
without compiled kernels and the first run compiles them.
"""

import json
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

WARM_UP_SECONDS = 900
# The child's program: lstmkit.warmup on the lstmkit in `root`, without PyTorch.
WARM_UP = """
import os, sys, types
sys.path[:0] = {paths!r}
sys.modules["torch"] = None  # import torch fails here, as in a new environment's build
for name in ("lstmkit", "lstmkit.ops"):  # the packages without their __init__ files (which import torch)
    package = types.ModuleType(name)
    package.__path__ = [os.path.join({root!r}, *name.split("."))]
    sys.modules[name] = package
from lstmkit.warmup import main
sys.exit(main({arguments!r}))
"""


def _target_paths():
    """sys.path of this interpreter outside pip's isolation: its own environment's site-packages."""
    listed = subprocess.run([sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sys.path))"],
                            capture_output=True, text=True, check=True)
    return json.loads(listed.stdout)


def warm_up(package_root, arguments):
    """Run lstmkit.warmup on the lstmkit in `package_root`, with this build's packages first, then
    the target environment's, and without PyTorch. Returns True when it succeeded."""
    target = _target_paths()
    here = os.path.abspath(os.path.dirname(__file__))
    build_env = [path for path in sys.path
                 if path and path not in target and os.path.isdir(path) and os.path.abspath(path) != here]
    code = WARM_UP.format(paths=[package_root, *build_env], root=package_root, arguments=arguments)
    try:
        subprocess.run([sys.executable, "-I", "-c", code], check=True, timeout=WARM_UP_SECONDS)
    except (OSError, subprocess.SubprocessError) as error:
        print(f"lstmkit: kernels not compiled at install ({error}); the first run compiles them.",
              file=sys.stderr)
        return False
    return True


class BuildWithKernels(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            warm_up(os.path.abspath(os.path.dirname(__file__)), [])
        else:
            kernels = os.path.join(os.path.abspath(self.build_lib), "lstmkit", "_kernels")
            if os.path.isdir(kernels):  # from an earlier build in the same folder
                import shutil

                shutil.rmtree(kernels)
            warm_up(os.path.abspath(self.build_lib), ["--into", kernels])


if __name__ == "__main__":  # as setuptools runs this file; tests/test_warmup.py imports warm_up
    setup(cmdclass={"build_py": BuildWithKernels})
