"""`make mutate`: mutmut over the core's promise-keeping modules, in a scratch copy.

mutmut 3 names a mutated function by its file path, so the module must be importable as the
path says: ``kahula_core.store`` has to live at ``src/kahula_core/store.py``. The repository
keeps its layout (``lambdas/``); this script makes a scratch copy of the tracked files with
``src`` pointing at ``lambdas`` and the tests importing from there, runs ``mutmut run`` in
it, and prints ``mutmut results``. The copy stays in ``.mutate/`` for ``mutmut browse``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / ".mutate"


def main(argv: list[str]) -> int:
    if SCRATCH.exists():
        shutil.rmtree(SCRATCH)
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, tracked):
        target = SCRATCH / name
        target.parent.mkdir(parents=True, exist_ok=True)
        source = ROOT / name
        if source.is_file():
            shutil.copy2(source, target)
    (SCRATCH / "src").symlink_to("lambdas")
    pyproject = SCRATCH / "pyproject.toml"
    text = pyproject.read_text()
    text = re.sub(r"^pythonpath = \[.*\]$", 'pythonpath = [".", "src"]', text, flags=re.M)
    text = text.replace('"lambdas/kahula_core/', '"src/kahula_core/')
    pyproject.write_text(text)
    mutmut = Path(sys.executable).with_name("mutmut")
    run = subprocess.run([str(mutmut), "run", *argv], cwd=SCRATCH, check=False)
    subprocess.run([str(mutmut), "results"], cwd=SCRATCH, check=False)
    return run.returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
