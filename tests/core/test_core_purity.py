"""The consensus core must stay a pure state machine: no I/O, no clocks, no global randomness."""

import ast
from pathlib import Path

import cluster.core

CORE_DIRECTORY = Path(cluster.core.__file__).parent
FORBIDDEN_MODULES = {
    "asyncio", "socket", "selectors", "select", "ssl", "time", "datetime", "os", "sys", "io", "pathlib",
    "shutil", "tempfile", "threading", "multiprocessing", "concurrent", "subprocess", "signal",
    "logging", "secrets", "uuid", "http", "urllib", "sqlite3",
}


def _core_modules() -> list[Path]:
    modules = sorted(CORE_DIRECTORY.glob("*.py"))
    assert len(modules) >= 8, modules
    return modules


def test_core_imports_no_io_clock_or_threading_module() -> None:
    for path in _core_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN_MODULES, f"{path.name} imports {name}"


def test_core_uses_random_only_through_injected_instances() -> None:
    """`random.Random` (the type, or a seeded instance in the simulation) is fine; module-level calls are not."""
    for path in _core_modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "random":
                raise AssertionError(f"{path.name}: `from random import ...` hides global-random use")
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "random":
                assert node.attr == "Random", f"{path.name}:{node.lineno} uses random.{node.attr}"


def test_the_purity_check_would_notice_a_clock(tmp_path: Path) -> None:
    bad = "import time\nimport random\nx = random.random()\n"
    tree = ast.parse(bad)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "time" in imported & FORBIDDEN_MODULES
    assert attributes - {"Random"}
