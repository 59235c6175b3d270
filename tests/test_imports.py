"""The import graph of blasr: rooms import only from rooms below them, and nothing imports in a circle.

The rooms and their order are ``ROOMS`` (docs/design.md shows the same map).
A module may import from its own room and from rooms of a lower rank; the
programs (``blasr/*.py``, the layer users run) may import from any room, and
no room may import from them. Besides:

* no import cycle between modules;
* no private name (``_x``) imported from another module;
* no blasr import inside a function (a tangle hidden from the reader), and
  third-party imports inside functions only for the optional or deliberately
  lazy dependencies listed in ``LAZY``;
* no ``main()`` and no ``if __name__ == "__main__"`` outside the programs.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "blasr"

# room -> rank; a room imports only from rooms of a lower rank (and itself)
ROOMS = {
    "version": -1, "utils": 0,
    "core": 1, "training": 1,
    "speech": 2, "features": 2,
    "kaldi": 3, "kaldi.formats": 3,  # blasr.kaldi itself only loads kaldi-hmm-gmm first
    "data": 4, "kaldi.lang": 4,
    "kaldi.gmm": 5, "kaldi.scoring": 5,
    "kaldi.decoding": 6,
    "acoustic": 7, "image": 7,
    "inference": 8,
}
PROGRAMS = 99  # blasr/*.py: parse options, call the library
ROOMS["launch"] = PROGRAMS  # blasr/launch/: the launcher programs (blasr-run, blasr-slurm)

# third-party modules (or dotted prefixes) that may be imported inside a function, and why
LAZY = {
    "torchaudio": "optional: used only where importable",
    "torchvision": "optional: used only where importable",
    "matplotlib": "plots only: import time nobody else should pay",
    "torch.utils.tensorboard": "only with --tensorboard (it imports the tensorboard package)",
    "scipy.signal": "only the augmentations use it, and it adds a second to every program's start",
}
# (blasr module, third-party module) pairs allowed inside a function in that module only
LAZY_IN = {
    ("blasr.data.sphere", "lhotse"): "the module is also run alone (runpy) once per recording to decode it: "
                                     "it must start without lhotse (2.5 s to import)",
}


def lazy_allowed(i: Import) -> bool:
    top = i.target.split(".")[0]
    names = {i.target, f"{i.target}.{i.name}"} if i.name else {i.target}  # `from scipy import signal`: scipy.signal
    return (top in __import__("sys").stdlib_module_names
            or any(n == k or n.startswith(k + ".") for k in LAZY for n in names)
            or (i.source, top) in LAZY_IN)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def room(module: str) -> tuple[str, int]:
    """``(room, rank)`` of a module: its top-level package (``kaldi.<room>`` inside blasr.kaldi); the
    package itself, its top-level modules outside ``ROOMS`` and ``__main__`` files are the programs."""
    parts = module.split(".")[1:]
    if not parts or parts[-1] == "__main__":
        return "programs", PROGRAMS
    name = ".".join(parts[:2]) if parts[0] == "kaldi" and len(parts) > 1 else parts[0]
    if name not in ROOMS and len(parts) == 1 and MODULES[module].name != "__init__.py":
        return "programs", PROGRAMS
    return name, ROOMS[name]


class Import:
    def __init__(self, source: str, target: str, name: str | None, line: int, in_function: bool) -> None:
        self.source, self.target, self.name, self.line, self.in_function = source, target, name, line, in_function

    def __repr__(self) -> str:
        what = f"{self.target}.{self.name}" if self.name else self.target
        return f"{MODULES[self.source].relative_to(PACKAGE.parent)}:{self.line} imports {what}"


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend(Import(module, a.name, None, child.lineno, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                for alias in child.names:
                    full = f"{target}.{alias.name}"
                    if full in MODULES:  # `from package import submodule`
                        found.append(Import(module, full, None, child.lineno, in_function))
                    else:
                        found.append(Import(module, target, alias.name, child.lineno, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


ALL = [i for m in MODULES for i in imports_of(m)]
OURS = [i for i in ALL if i.target == "blasr" or i.target.startswith("blasr.")]


def test_the_map_covers_every_module():
    for module in MODULES:
        room(module)  # a KeyError names a module in no room: add its room to ROOMS and to docs/design.md


def test_rooms_import_only_from_rooms_below():
    upward = []
    for i in OURS:
        (source_room, source_rank), (target_room, target_rank) = room(i.source), room(i.target)
        if source_room != target_room and target_rank >= source_rank:
            upward.append(f"{i!r}: room {source_room} (rank {source_rank}) -> {target_room} (rank {target_rank})")
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in OURS:
        if not i.in_function and i.target in MODULES and i.target != i.source:
            graph[i.source].add(i.target)
    # a module imports its parent packages too; edges into a package's __init__ from its own
    # submodules are what make cycles, so they are kept
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def strongly_connected(v: str) -> None:  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strongly_connected(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            strongly_connected(v)
    assert not cycles, cycles


def test_no_private_names_across_modules():
    private = [i for i in OURS if i.name and i.name.startswith("_") and not i.name.startswith("__")
               and i.target != i.source]
    assert not private, private


def test_no_imports_inside_functions():
    ours = [i for i in OURS if i.in_function]
    assert not ours, "blasr imports inside functions:\n" + "\n".join(map(repr, ours))
    lazy = [i for i in ALL if i.in_function and not (i.target == "blasr" or i.target.startswith("blasr."))
            and not lazy_allowed(i)]
    assert not lazy, "third-party imports inside functions (add to LAZY with the reason, or import at the top):\n" + \
        "\n".join(map(repr, lazy))


@pytest.mark.parametrize("module", [m for m in MODULES if room(m)[1] != PROGRAMS])
def test_library_modules_define_no_program(module):
    tree = ast.parse(MODULES[module].read_text())
    mains = [n.lineno for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    guards = [n.lineno for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    assert not mains and not guards, \
        f"{MODULES[module]}: a program belongs in blasr/*.py (main at {mains}, guard at {guards})"


def test_the_checks_see_a_violation():
    """The rules above would catch what they are meant to (a check that cannot fail is no check)."""
    assert room("blasr.kaldi.formats.io") == ("kaldi.formats", 3)
    assert room("blasr.train") == ("programs", PROGRAMS)
    assert room("blasr.data.loader") == ("data", 4)
    assert any(i.target.startswith("blasr.kaldi.formats") for i in OURS if room(i.source)[0] == "kaldi.gmm")


def test_every_folder_of_modules_is_a_package():
    """A folder without ``__init__.py`` works in an editable install and vanishes from a regular one."""
    folders = {p.parent for p in PACKAGE.rglob("*.py")}
    missing = sorted(str(f.relative_to(PACKAGE.parent)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, missing


def test_lazy_imports_are_allowed_only_where_listed():
    assert lazy_allowed(Import("blasr.data.sphere", "lhotse.audio", "AudioSource", 1, True))
    assert not lazy_allowed(Import("blasr.data.digits", "lhotse", "CutSet", 1, True))
    assert lazy_allowed(Import("blasr.utils.progress", "torch.utils.tensorboard", "SummaryWriter", 1, True))
    assert not lazy_allowed(Import("blasr.utils.progress", "torch.utils.data", "DataLoader", 1, True))
    assert lazy_allowed(Import("blasr.data.digits", "json", None, 1, True))  # the standard library


@pytest.mark.parametrize("modules", [
    "blasr.kaldi.lang.grammar, blasr.kaldi.decoding.decode",  # kaldilm, then kaldi-decoder
    "blasr.kaldi.formats.fst, blasr.kaldi.lang.grammar, blasr.kaldi.decoding.lattice",
])
def test_the_kaldi_libraries_load_in_any_order_of_blasr_modules(modules):
    """kaldilm before kaldi-hmm-gmm or kaldi-decoder hangs the process at import; blasr.kaldi loads those two
    first, so any order of blasr's own modules must import (a fresh process, with a time limit)."""
    done = subprocess.run([sys.executable, "-c", f"import {modules}"], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
