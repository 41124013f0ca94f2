"""Loading the Skill object a spec string names: `package.module:attr` or `path/file.py:attr`
(and, given a table of built-ins, a built-in name)."""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import sys
from collections.abc import Mapping
from pathlib import Path

from skills.sdk._skill import Skill


class SkillLoadError(Exception):
    """The spec names no loadable Skill; the message says why."""


def load_skill(spec: str, builtins: Mapping[str, str] | None = None) -> Skill:
    """Import the Skill object a spec names; clear errors for every way that can fail."""
    builtins = builtins or {}
    target = builtins.get(spec, spec)
    if ":" not in target:
        known = ", ".join(sorted(builtins)) or "none"
        raise SkillLoadError(
            f"unknown skill {spec!r}: use a built-in ({known}), MODULE:ATTR or path/to/file.py:ATTR"
        )
    where, attr = target.rsplit(":", 1)
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise SkillLoadError(f"skill file not found: {where}")
        module_spec = importlib.util.spec_from_file_location(f"podium_user_skill_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise SkillLoadError(f"cannot load {where} as a Python module")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as exc:
            raise SkillLoadError(f"cannot import {where!r} for skill {spec!r}: {exc}") from exc
    skill = getattr(module, attr, None)
    if not isinstance(skill, Skill):
        raise SkillLoadError(f"{target} is not a skills.sdk.Skill (got {type(skill).__name__})")
    return skill


def check_skill(spec: str, builtins: Mapping[str, str] | None = None) -> None:
    """What can be known about a spec without running its code: the built-in exists, the file
    or module is there, it parses, and it defines `attr` at its top level. Raises
    SkillLoadError with the reason. (Importing would run the author's code in the caller.)"""
    builtins = builtins or {}
    target = builtins.get(spec, spec)
    if ":" not in target:
        known = sorted(builtins)
        close = difflib.get_close_matches(spec, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SkillLoadError(
            f"unknown skill {spec!r}{hint}: use a built-in ({', '.join(known) or 'none'}), "
            "MODULE:ATTR or path/to/file.py:ATTR"
        )
    where, attr = target.rsplit(":", 1)
    if not attr.isidentifier():
        raise SkillLoadError(f"{spec!r}: {attr!r} after the ':' is not a Python name")
    if where.endswith(".py"):
        path = Path(where).resolve()
        if not path.is_file():
            raise SkillLoadError(f"skill file not found: {path}")
        source, shown = path, where
    else:
        try:
            found = importlib.util.find_spec(where)
        except (ImportError, ValueError) as exc:
            found, reason = None, str(exc)
        else:
            reason = "no such module"
        if found is None:
            what = f"built-in skill {spec!r} is not installed" if spec in builtins else spec
            raise SkillLoadError(f"{what}: cannot import {where!r} ({reason})")
        if not found.origin or not found.origin.endswith(".py"):
            return  # a compiled or namespace module: only importing it can tell
        source, shown = Path(found.origin), where
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except SyntaxError as exc:
        raise SkillLoadError(f"{shown}: line {exc.lineno}: {exc.msg}") from None
    except OSError as exc:
        raise SkillLoadError(f"{shown}: cannot read it ({exc.strerror})") from None
    if not _binds(tree, attr):
        names = sorted(n for n in _top_level_names(tree) if not n.startswith("_"))
        close = difflib.get_close_matches(attr, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SkillLoadError(f"{shown} defines no {attr!r} at its top level{hint}")


def _top_level_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            targets = [node.target]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        for target in targets:
            names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    return names


def _binds(tree: ast.Module, attr: str) -> bool:
    """True when the module binds `attr` at top level, or might (star import, __getattr__,
    or a name bound inside an `if`/`try` at top level)."""
    if attr in _top_level_names(tree):
        return True
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return True
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            return True
        if isinstance(node, ast.If | ast.Try | ast.With) and any(
            isinstance(n, ast.Name) and n.id == attr and isinstance(n.ctx, ast.Store)
            for n in ast.walk(node)
        ):
            return True
    return False
