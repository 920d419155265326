"""The documents stay what they are: a short README with the two commands, and code pointers into
the docs that name sections which exist."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POINTER = re.compile(r'((?:docs/\w+|egs/grid/README)\.md), "([^"]+)"')


def headings(md: Path) -> set:
    return {line.lstrip("#").strip().replace("`", "") for line in md.read_text(encoding="utf-8").splitlines()
            if line.startswith("## ")}


def test_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    assert any(line.startswith("cd egs/grid && ./run.sh") for line in lines)
    assert any(line.startswith("tools/test.sh") for line in lines)


def test_every_docs_pointer_in_code_and_configs_names_an_existing_section():
    pointers = []
    for d in ("avdm", "conf", "egs", "tools/bench"):
        for f in sorted((ROOT / d).rglob("*")):
            if f.is_file() and f.suffix in (".py", ".yaml", ".sh"):
                pointers += [(f, doc, title) for doc, title in POINTER.findall(f.read_text(encoding="utf-8"))]
    assert pointers, "no pointer found: the pattern no longer matches how the code cites the docs"
    missing = [f"{f.relative_to(ROOT)}: {doc}, \"{title}\"" for f, doc, title in pointers
               if title.replace("`", "") not in headings(ROOT / doc)]
    assert not missing, missing
