"""Issue #13's shape: stage scripts are orchestration (≤ 70 lines of code), library modules hold
one concept each (≤ 350). Lines of code: lines holding a token other than comments and docstrings."""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGE_LIMIT, MODULE_LIMIT = 70, 350


def code_lines(path: Path) -> int:
    source = path.read_text(encoding="utf-8")
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines: set[int] = set()
    skipped = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in skipped:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_code_lines_skip_comments_and_docstrings(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        '"""Doc\nstring."""\n\n# comment\nx = 1  # trailing\n\n\ndef f():\n    """Doc."""\n    return (\n        x)\n'
    )
    assert code_lines(module) == 4  # x = 1, def, return (, x)


@pytest.mark.parametrize("script", sorted((ROOT / "stages").glob("*.py")), ids=lambda p: p.name)
def test_stage_scripts_are_thin(script):
    assert code_lines(script) <= STAGE_LIMIT, f"{script.name}: move factories and logic into ragtune/"


@pytest.mark.parametrize("module", sorted((ROOT / "ragtune").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_library_modules_hold_one_concept(module):
    assert code_lines(module) <= MODULE_LIMIT, f"{module.relative_to(ROOT)}: split it by concept"
