"""The layers of DESIGN.md, read from the import statements (ast, nothing is imported):
``avdm/bin`` entry points are imported by no other code (the tests may drive them), and the library
(``avdm`` outside ``avdm/bench`` and ``avdm/bin``) never imports the benchmark that sits on top of it."""
import ast
from pathlib import Path
from typing import Iterator, List, Tuple

ROOT = Path(__file__).resolve().parents[1]


def _package(path: Path, root: Path) -> List[str]:
    """The dotted package a file belongs to, as parts (avdm/a/b.py and avdm/a/__init__.py: avdm.a)."""
    return list(path.relative_to(root).parent.parts)


def imported(path: Path, root: Path = ROOT) -> Iterator[Tuple[int, str]]:
    """``(line, module)`` for every module a file imports: ``import x.y``, ``from x import y`` (as
    ``x`` and ``x.y``, so that ``from avdm import bin`` counts), relative imports resolved, and
    ``importlib.import_module("x")`` / ``__import__("x")`` with a literal name."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            parts = _package(path, root)
            base = ".".join(parts[:len(parts) - node.level + 1] if node.level else [])
            module = ".".join(p for p in (base, node.module or "") if p)
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def violations(files, forbidden: str, root: Path = ROOT) -> List[str]:
    """``file:line imports module`` for each import line that reaches into ``forbidden`` (once a line)."""
    found = {}
    for f in files:
        for line, m in imported(f, root):
            if _within(m, forbidden):
                found.setdefault((str(f.relative_to(root)), line), m)
    return [f"{f}:{line} imports {m}" for (f, line), m in found.items()]


def _python_files(*dirs: str, root: Path = ROOT) -> List[Path]:
    return sorted(p for d in dirs for p in (root / d).rglob("*.py") if "venv" not in p.relative_to(root).parts)


def _under(path: Path, folder: str, root: Path = ROOT) -> bool:
    return path.relative_to(root).parts[:len(Path(folder).parts)] == Path(folder).parts


def test_nothing_outside_avdm_bin_imports_it():
    files = [p for p in _python_files("avdm", "tools", "egs") if not _under(p, "avdm/bin")]
    assert len(files) > 50  # the tree was found
    found = violations(files, "avdm.bin")
    assert not found, "avdm/bin holds entry points only; move what these need into the library:\n" + "\n".join(found)


def test_the_library_does_not_import_the_benchmark():
    files = [p for p in _python_files("avdm") if not (_under(p, "avdm/bin") or _under(p, "avdm/bench"))]
    found = violations(files, "avdm.bench")
    assert not found, "the benchmark sits on top of the library, not under it:\n" + "\n".join(found)


def test_the_check_sees_every_form_of_import(tmp_path):
    lib = tmp_path / "avdm" / "inference"
    lib.mkdir(parents=True)
    forms = ["import avdm.bin.stage_infer", "from avdm.bin.stage_train import data_args", "from avdm import bin",
             "from ..bin import stage_dump", "from .. import bench",
             "import importlib\nimportlib.import_module('avdm.bench.rtf')", "__import__('avdm.bin.score')",
             "def f():\n    from avdm.bench.models import load_any"]
    for i, src in enumerate(forms):
        (lib / f"m{i}.py").write_text(src + "\n")
    (lib / "ok.py").write_text("import avdm.binary_io\nfrom avdm import benchmarks_doc\nfrom . import bin\n")
    files = sorted(lib.glob("*.py"))
    found = violations(files, "avdm.bin", tmp_path) + violations(files, "avdm.bench", tmp_path)
    assert sorted({f.split(":")[0] for f in found}) == [f"avdm/inference/m{i}.py" for i in range(len(forms))]
    assert "avdm/inference/m3.py:1 imports avdm.bin" in found  # the relative import, resolved
