"""Turn any text a user or model types into safe FTS5 expressions.

Nothing the user types reaches FTS5's parser as syntax: every term becomes a double-quoted
string (FTS5 tokenizes inside the quotes itself), and only a small, forgiving grammar is read
from the text:

- plain words are alternatives, ranked by bm25 (a memory with more of them ranks higher);
- `"exact words"` is a phrase; a trailing `*` (`kube*`, `"exact wo"*`) is a prefix search;
- `a AND b` (uppercase) needs both; `OR` is the default and accepted;
- `-word` or `NOT word` excludes; parentheses and `col:` filters are read as plain text.

Unbalanced quotes close at the end, dangling operators are dropped, and English stopwords
are dropped when other words remain (they match nearly everything and rank nothing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

MAX_QUERY_CHARS = 1000
MAX_ITEMS = 16

# unicode61 indexes letters and digits; underscore and everything else separate tokens.
_TOKEN_CHAR = re.compile(r"[^\W_]")
# Scripts written without spaces: unicode61 indexes a whole run as one token, so a word
# typed from the middle of a run cannot match; a prefix search at least finds run starts.
_NO_SPACE_SCRIPT = re.compile(
    r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
)
_LEXEME = re.compile(r'"(?P<phrase>[^"]*)"?(?P<pstar>\*?)|(?P<paren>[()])|(?P<bare>[^\s"()]+)')

# A short English list: these match nearly every memory and carry no meaning for ranking.
_STOPWORD_TEXT = (
    "a an and are as at be but by for from has have how i in is it its of on or that the "
    "this to was we were what when where which who why will with you your"
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@dataclass(frozen=True)
class Term:
    """A word or phrase to look for; `prefix` matches any token starting with its last word."""

    text: str
    prefix: bool = False

    def fts(self) -> str:
        quoted = '"' + self.text.replace('"', '""') + '"'
        return quoted + " *" if self.prefix else quoted


@dataclass
class Query:
    """A parsed query: alternatives (each a conjunction of terms), minus excluded terms."""

    groups: list[list[Term]] = field(default_factory=lambda: [])
    excluded: list[Term] = field(default_factory=lambda: [])
    raw: str = ""

    @property
    def empty(self) -> bool:
        return not self.groups

    @property
    def needs_substring(self) -> bool:
        """True when FTS5 alone may miss: text in a script without spaces, or symbols."""
        return bool(_NO_SPACE_SCRIPT.search(self.raw)) or any(
            unicodedata.category(c) == "So" for c in self.raw
        )

    def group_expressions(self) -> list[str]:
        """One FTS5 expression per alternative, each carrying the exclusions."""
        return [self._with_exclusions(" AND ".join(t.fts() for t in g)) for g in self.groups]

    def expression(self) -> str:
        """The whole query as one FTS5 expression (used for snippets)."""
        alternatives = " OR ".join(
            "(" + " AND ".join(t.fts() for t in g) + ")" for g in self.groups
        )
        return self._with_exclusions(alternatives)

    def words(self) -> list[str]:
        """Every positive term's text (for substring fallbacks)."""
        return [t.text for g in self.groups for t in g]

    def _with_exclusions(self, positive: str) -> str:
        if not self.excluded:
            return positive
        return f"({positive}) NOT ({' OR '.join(t.fts() for t in self.excluded)})"


def _term(text: str, prefix: bool) -> Term | None:
    text = text.replace("*", " ").strip()
    if not _TOKEN_CHAR.search(text):
        return None  # only separators (punctuation, emoji): FTS5 would see no token
    if _NO_SPACE_SCRIPT.search(text[-1]):
        prefix = True
    return Term(" ".join(text.split()), prefix)


def parse(raw: str) -> Query:
    """Parse any string into a Query; never raises, never yields invalid FTS5."""
    raw = clean_text(raw[:MAX_QUERY_CHARS])
    groups: list[list[Term]] = []
    excluded: list[Term] = []
    joining = negate = False  # an AND is pending / the next term is excluded
    operators: list[str] = []
    for m in _LEXEME.finditer(raw):
        if m["paren"]:
            continue
        if m["phrase"] is not None:
            term, negated = _term(m["phrase"], bool(m["pstar"])), False
        else:
            bare: str = m["bare"]
            if bare in ("AND", "OR", "NOT", "-"):
                operators += [bare] if bare != "-" else []
                joining = bare == "AND" and bool(groups)
                # `-"a phrase"` excludes; a lone dash between words is punctuation.
                negate = bare == "NOT" or (bare == "-" and raw[m.end() : m.end() + 1] == '"')
                continue
            negated = bare.startswith("-") and len(bare) > 1
            body = bare.lstrip("-") if negated else bare
            term = _term(body, body.endswith("*"))
        if term is None:
            continue
        if negate or negated:
            excluded.append(term)
        elif joining:
            groups[-1].append(term)
        else:
            groups.append([term])
        joining = negate = False
    if not groups and not excluded and operators:
        # "AND" or "NOT" alone is a word someone is looking for, not an operator.
        groups = [[Term(word)] for word in operators]
    groups = _drop_stopwords(groups)[:MAX_ITEMS]
    return Query(groups=groups, excluded=excluded[:MAX_ITEMS] if groups else [], raw=raw)


def clean_text(text: str) -> str:
    """Drop what SQLite cannot take: NUL ends an FTS5 string, lone surrogates are not UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


def _drop_stopwords(groups: list[list[Term]]) -> list[list[Term]]:
    def is_stop(g: list[Term]) -> bool:
        return len(g) == 1 and not g[0].prefix and g[0].text.lower() in STOPWORDS

    kept = [g for g in groups if not is_stop(g)]
    return kept or groups


def like_patterns(raw: str) -> list[str]:
    """`LIKE` patterns (escape `\\`) for a substring fallback: one per whitespace-split piece."""
    pieces = [p.strip('"') for p in clean_text(raw[:MAX_QUERY_CHARS]).split()]
    escaped = [re.sub(r"([\\%_])", r"\\\1", p) for p in pieces if p.strip('"')]
    return [f"%{p}%" for p in escaped[:5]]
