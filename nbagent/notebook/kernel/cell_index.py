"""The notebook's cells as the kernel ran them, for the kernel tools: what each cell's code defines and
uses, read from its AST (never by running it).

The cells are IPython's input history (`In`, in execution order, magics already turned into Python).
A cell that does not parse (an unfinished edit that raised a SyntaxError) defines and uses nothing.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass
class CellNames:
    """The names a cell's code binds at its top level, and every name it reads (those it defined too)."""

    defines: list[str] = field(default_factory=list)
    uses: list[str] = field(default_factory=list)


def cell_names(source: str) -> CellNames:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return CellNames()
    defines: dict[str, None] = {}
    uses: dict[str, None] = {}
    for statement in tree.body:
        for name in _bound_by(statement):
            defines.setdefault(name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            uses.setdefault(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            uses.setdefault(node.value.id)
    return CellNames(list(defines), list(uses))


def _bound_by(statement: ast.stmt) -> list[str]:
    """Top-level names a statement binds: assignments, functions, classes, imports, loop and with targets."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in statement.names if alias.name != "*"]
    targets: list[ast.expr] = []
    if isinstance(statement, ast.Assign):
        targets = statement.targets
    elif isinstance(statement, (ast.AugAssign, ast.AnnAssign, ast.For, ast.AsyncFor)):
        targets = [statement.target]
    elif isinstance(statement, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in statement.items if item.optional_vars is not None]
    names = [node.id for target in targets for node in ast.walk(target)
             if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)]
    if isinstance(statement, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Try)):
        for child in statement.body + getattr(statement, "orelse", []) + getattr(statement, "finalbody", []):
            names += _bound_by(child)
    return names

