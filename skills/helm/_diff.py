"""A readable diff of two rendered manifests, object by object (what `helm diff upgrade` shows,
without the plugin): objects are matched by kind, namespace and name, each changed one gets a
unified diff of its YAML, added and removed ones are listed whole."""

from __future__ import annotations

import difflib
from typing import Any, cast

import yaml

from skills._redact import Redactor, dig, dump, split_documents

Key = tuple[str, str, str]


def objects(manifest: str, redactor: Redactor, namespace: str) -> dict[Key, str]:
    """Each object of a manifest, redacted and dumped as YAML, by (kind, namespace, name)."""
    found: dict[Key, str] = {}
    for number, chunk in enumerate(split_documents(manifest), 1):
        try:
            doc: Any = yaml.safe_load(chunk)
        except yaml.YAMLError:
            found[("(unparsed)", "", str(number))] = "# (not valid YAML: withheld)\n"
            continue
        if not isinstance(doc, dict):
            continue
        kind = str(dig(doc, "kind") or "?")
        name = str(dig(doc, "metadata", "name") or f"#{number}")
        ns = str(dig(doc, "metadata", "namespace") or namespace)
        found[(kind, ns, name)] = dump(_sorted(redactor.document(doc)))
    return found


def diff(current: str, proposed: str, *, namespace: str, context: int = 3) -> str:
    """The change from `current` to `proposed`, secrets redacted on both sides (with one
    fingerprint key, so a changed secret shows as changed)."""
    redactor = Redactor(fingerprints=True)
    old = objects(current, redactor, namespace)
    new = objects(proposed, redactor, namespace)
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(k for k in old.keys() & new.keys() if old[k] != new[k])
    unchanged = len(old.keys() & new.keys()) - len(changed)
    lines = [
        f"{len(changed)} changed, {len(added)} added, {len(removed)} removed, {unchanged} unchanged"
    ]
    for key in changed:
        label = _label(key)
        lines.append("")
        lines.extend(
            difflib.unified_diff(
                old[key].splitlines(),
                new[key].splitlines(),
                f"{label} (current)",
                f"{label} (upgrade)",
                n=context,
                lineterm="",
            )
        )
    for key, sign, text in [(k, "+", new[k]) for k in added] + [(k, "-", old[k]) for k in removed]:
        lines.append("")
        lines.append(f"{'added' if sign == '+' else 'removed'}: {_label(key)}")
        lines.extend(sign + line for line in text.splitlines())
    return "\n".join(lines) + "\n"


def _sorted(data: Any) -> Any:
    """Mappings in key order at every level, so two renderings compare line by line."""
    if isinstance(data, dict):
        items = cast(dict[Any, Any], data).items()
        return {k: _sorted(v) for k, v in sorted(items, key=lambda kv: str(kv[0]))}
    if isinstance(data, list):
        return [_sorted(item) for item in cast(list[Any], data)]
    return data


def _label(key: Key) -> str:
    kind, ns, name = key
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"
