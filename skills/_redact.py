"""Secrets out of what the model sees: rendered manifests (every `kind: Secret`'s data and
stringData values, secret-looking environment variables and keys, PEM private keys) and values
(any key that looks like it holds a secret: password, token, secret, apiKey...).

A redacted value becomes `<redacted>`. In a diff both sides are redacted with the same
`Redactor`, whose marker carries a short fingerprint (HMAC-SHA-256 under a random key made for
that one call and never kept), so the model can tell that a secret changed without learning
anything about it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any, cast

import yaml

# Normalised (lower case, no `_-.`) keys that hold secrets...
_SECRET_WORDS = re.compile(
    r"password|passwd|passphrase|secret|token|credential|apikey|accesskey|privatekey|"
    r"secretkey|signingkey|encryptionkey|masterkey|authkey|licensekey|connectionstring|"
    r"dsn$|^pwd$|^auth$|^key$|^tlskey$|^jwt"
)
# ...unless they only name or point at one (`existingSecret`, `secretName`, `tokenSecretRef`).
_REFERENCE = re.compile(r"(name|names|ref|refs|path|file|enabled|existing\w*|mount\w*|keys?ref)$")
_EXISTING = re.compile(r"^existing|^use|^create|^auto")
_PEM_PRIVATE = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")
REDACTED = "<redacted>"


def dig(obj: Any, *keys: str) -> Any:
    """`obj[k1][k2]...` through parsed YAML/JSON, or None where a level is missing."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = cast(dict[str, Any], obj).get(key)
    return obj


def dump(data: Any) -> str:
    """YAML in key order as given, long lines kept whole."""
    return yaml.safe_dump(data, sort_keys=False, width=1_000_000)  # pyright: ignore[reportUnknownMemberType]


def secret_looking(key: str) -> bool:
    """Whether a values/config key looks like it holds a secret (not just names one)."""
    norm = re.sub(r"[_\-. ]", "", key).lower()
    if not _SECRET_WORDS.search(norm):
        return False
    return not (_REFERENCE.search(norm) or _EXISTING.search(norm))


class Redactor:
    """Replaces secret values; `fingerprints` adds a per-call fingerprint to each marker."""

    def __init__(self, *, fingerprints: bool = False) -> None:
        self._key = secrets.token_bytes(32) if fingerprints else b""
        self.count = 0

    def marker(self, value: Any) -> str:
        self.count += 1
        if not self._key:
            return REDACTED
        digest = hmac.new(self._key, repr(value).encode(), hashlib.sha256).hexdigest()[:8]
        return f"<redacted {digest}>"

    # --- values ---------------------------------------------------------------------------

    def values(self, data: Any) -> Any:
        """A copy of a values tree with secret-looking keys' values replaced."""
        if isinstance(data, dict):
            out: dict[Any, Any] = {}
            for key, value in data.items():  # pyright: ignore[reportUnknownVariableType]
                if _hides(str(key), value):  # pyright: ignore[reportUnknownArgumentType]
                    out[key] = self.marker(value)
                else:
                    out[key] = self.values(value)
            return out
        if isinstance(data, list):
            return [self.values(item) for item in data]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(data, str) and _PEM_PRIVATE.search(data):
            return self.marker(data)
        return data

    # --- manifests ------------------------------------------------------------------------

    def document(self, doc: Any) -> Any:
        """One Kubernetes object with its secret values replaced: a Secret's data and
        stringData, a ConfigMap's secret-looking keys, secret-looking container env values,
        and PEM private keys anywhere. (Not every secret-looking key elsewhere: in objects,
        `key:` and `secretName:` are mostly references, not secrets.)"""
        if not isinstance(doc, dict):
            return self.pem(doc)
        obj: dict[str, Any] = dict(doc)  # pyright: ignore[reportUnknownArgumentType]
        kind = obj.get("kind")
        for field in ("data", "stringData", "binaryData"):
            block = obj.get(field)
            if kind == "Secret" and isinstance(block, dict):
                obj[field] = {k: self.marker(v) for k, v in block.items()}  # pyright: ignore[reportUnknownVariableType]
            elif kind == "Secret" and block is not None:
                obj[field] = self.marker(block)
            elif kind == "ConfigMap" and isinstance(block, dict):
                obj[field] = self.values(block)
        return self.pem(self._env(obj))

    def pem(self, data: Any) -> Any:
        """PEM private keys replaced wherever they are."""
        if isinstance(data, dict):
            return {k: self.pem(v) for k, v in data.items()}  # pyright: ignore[reportUnknownVariableType]
        if isinstance(data, list):
            return [self.pem(item) for item in data]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(data, str) and _PEM_PRIVATE.search(data):
            return self.marker(data)
        return data

    def _env(self, data: Any) -> Any:
        """Container env entries `{name: DB_PASSWORD, value: ...}` get their value replaced."""
        if isinstance(data, list):
            items: list[Any] = []
            for item in data:  # pyright: ignore[reportUnknownVariableType]
                if (
                    isinstance(item, dict)
                    and isinstance(item.get("name"), str)  # pyright: ignore[reportUnknownMemberType]
                    and isinstance(item.get("value"), str | int | float)  # pyright: ignore[reportUnknownMemberType]
                    and secret_looking(item["name"])  # pyright: ignore[reportUnknownArgumentType]
                ):
                    item = {**item, "value": self.marker(item["value"])}  # pyright: ignore[reportUnknownVariableType]
                items.append(self._env(item))
            return items
        if isinstance(data, dict):
            return {k: self._env(v) for k, v in data.items()}  # pyright: ignore[reportUnknownVariableType]
        return data

    def manifest(self, text: str) -> str:
        """A multi-document manifest with every document's secrets replaced.

        Documents without anything to hide are kept byte for byte (with helm's `# Source:`
        comments); one that does not parse is withheld whole rather than shown unchecked.
        """
        parts: list[str] = []
        for chunk in split_documents(text):
            parts.append(self.chunk(chunk))
        return "---\n".join(parts) if parts else text

    def chunk(self, chunk: str) -> str:
        try:
            doc = yaml.safe_load(chunk)
        except yaml.YAMLError:
            return "# (a document that is not valid YAML was withheld)\n"
        before = self.count
        redacted = self.document(doc)
        if self.count == before:
            return chunk
        comments = "".join(line + "\n" for line in chunk.splitlines() if line.startswith("#"))
        return comments + dump(redacted)


def _hides(key: str, value: Any) -> bool:
    if not secret_looking(key):
        return False
    if value is None or isinstance(value, bool) or value == "" or value == {} or value == []:
        return False
    # A secret-looking key over a mapping (`auth: {...}`, `tokens: [...]`) is searched inside.
    return not isinstance(value, dict | list)


def split_documents(text: str) -> list[str]:
    """The documents of a YAML stream, split on `---` lines (empty ones dropped)."""
    chunks = re.split(r"^---[ \t]*(?:#.*)?$\n?", text, flags=re.M)
    return [c if c.endswith("\n") else c + "\n" for c in chunks if c.strip()]


def values_text(text: str, redactor: Redactor | None = None) -> str:
    """A values.yaml as text: unchanged (comments and all) when nothing in it looks secret,
    else parsed, redacted and written back out (comments lost, secrets gone)."""
    redactor = redactor or Redactor()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return "# (values that are not valid YAML were withheld)\n"
    redacted = redactor.values(data)
    if redactor.count == 0:
        return text
    note = f"# {redactor.count} secret-looking value(s) redacted; comments dropped\n"
    return note + dump(redacted)
