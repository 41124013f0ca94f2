"""`podium skill new NAME [--lang python|typescript] [--dir DIR]`: a new skill project.

Python: a skill written with the SDK (`skill.py`), its test, a Dockerfile on Podium's skill
base, a README on publishing. TypeScript: the generic grpc-js server of
`examples/typescript-skill` with one tool in `tools.js`, a `node --test` test, `skill.proto`,
a committed-ready package-lock.json, a Dockerfile on a public Node image, a README.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

__all__ = ["build_parser", "create", "main"]

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
# Template file -> where it goes in the project (templates are `NAME.tmpl`).
RENAMES = {"dockerignore": ".dockerignore"}


class ScaffoldError(ValueError):
    pass


def _podium_version() -> str:
    try:
        return version("podium")
    except PackageNotFoundError:  # pragma: no cover - a bare checkout
        return "dev"


def _proto() -> str:
    return resources.files("protos").joinpath("skill.proto").read_text(encoding="utf-8")


def create(name: str, lang: str, target: Path) -> list[Path]:
    """Write the project for skill `name` into `target` (which must not exist or be empty)."""
    if not NAME_RE.match(name):
        raise ScaffoldError(
            f"skill name {name!r} must be lowercase letters, digits and '-', starting with a "
            "letter (at most 40 characters)"
        )
    if lang not in ("python", "typescript"):
        raise ScaffoldError(f"--lang must be python or typescript, not {lang!r}")
    if target.exists() and any(target.iterdir()):
        raise ScaffoldError(f"{target} already exists and is not empty")
    values = {
        "__NAME__": name,
        "__IDENT__": name.replace("-", "_"),
        "__PODIUM_VERSION__": _podium_version(),
    }
    root = resources.files("skills.scaffold").joinpath("templates", lang)
    written: list[Path] = []
    pending = [(root, Path())]
    while pending:
        folder, relative = pending.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                pending.append((entry, relative / entry.name))
                continue
            if not entry.name.endswith(".tmpl"):
                continue
            stem = entry.name.removesuffix(".tmpl")
            text = entry.read_text(encoding="utf-8")
            for key, value in values.items():
                text = text.replace(key, value)
            out = target / relative / RENAMES.get(stem, stem)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            written.append(out)
    if lang == "typescript":
        proto = target / "skill.proto"
        proto.write_text(_proto(), encoding="utf-8")
        written.append(proto)
    return sorted(written)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podium skill new", description="Create a new skill project with a working tool."
    )
    parser.add_argument("name", help="the skill's name (lowercase letters, digits, '-')")
    parser.add_argument(
        "--lang", choices=["python", "typescript"], default="python", help="the language"
    )
    parser.add_argument("--dir", type=Path, help="where to create it (default: ./NAME)")
    return parser


NEXT = {
    "python": "cd {dir} && pytest && "
    "podium skill check --command podium skill serve skill.py:skill",
    "typescript": "cd {dir} && npm install && npm test && "
    "podium skill check --command node server.js",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    target: Path = args.dir or Path(args.name)
    try:
        written = create(args.name, args.lang, target)
    except ScaffoldError as exc:
        print(f"podium skill new: {exc}", file=sys.stderr)
        return 2
    print(f"created {args.lang} skill {args.name!r} in {target}/:")
    for path in written:
        print(f"  {path.relative_to(target)}")
    print("next: " + NEXT[args.lang].format(dir=target))
    return 0
