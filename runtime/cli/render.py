"""`podium render RUNSPEC`: print the Pod (and optionally the ConfigMap) a run spec becomes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime.kube import RenderError, RenderOptions, render_config_map, render_pod
from runtime.spec import RunSpec


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="podium render", description="Print the Pod a run spec becomes, as YAML."
    )
    parser.add_argument("runspec", type=Path, help="a run spec file (JSON or YAML)")
    parser.add_argument(
        "--image-prefix",
        default=RenderOptions.image_prefix,
        help=f"registry prefix of Podium's images (default {RenderOptions.image_prefix})",
    )
    parser.add_argument("--tag", help="tag of Podium's images (default: Podium's version)")
    parser.add_argument(
        "--with-config",
        action="store_true",
        help="also print the run's ConfigMap (run.json, skill config files)",
    )
    args = parser.parse_args(argv)
    import yaml
    from pydantic import ValidationError

    try:
        spec = RunSpec.load(args.runspec)
        options = RenderOptions(
            image_prefix=args.image_prefix, **({"image_tag": args.tag} if args.tag else {})
        )
        documents = [render_pod(spec, options)]
        if args.with_config:
            documents.append(render_config_map(spec))
    except (ValidationError, RenderError, FileNotFoundError, ValueError) as exc:
        print(f"podium render: {exc}", file=sys.stderr)
        return 2
    text: str = yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False)  # pyright: ignore[reportUnknownMemberType]
    sys.stdout.write(text)
    return 0
