"""Smear vocabulary for the week's term counts, replaceable by the analysis' own list.

The analysis stores the vocabulary it used in `analysis_run.vocabulary`; when a run carries
one, the report counts those terms, so the report and the cluster flags speak the same
language. Without one, the small built-in list below is used (stems, matched as word
prefixes, case-insensitive, Cyrillic and Latin).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BUILTIN_TERMS", "Vocabulary", "vocabulary_from_run"]

# term shown in the report -> stems that count for it
BUILTIN_TERMS: dict[str, tuple[str, ...]] = {
    "грантоед": ("грантоед", "грантоеды", "гранттарды жеп", "grant-eater", "granteater"),
    "иностранный агент": ("иностранн агент", "иноагент", "шетелдік агент", "foreign agent"),
    "предатель": ("предател", "предаёт", "предает", "сатқын", "traitor", "betray"),
    "Сорос": ("сорос", "soros"),
    "западные деньги": ("западн деньг", "западные гранты", "western money"),
    "экстремист": ("экстремист", "экстремизм", "extremist"),
    "террорист": ("террорист", "terrorist"),
    "провокатор": ("провокатор", "арандатушы", "provocateur"),
    "пятая колонна": ("пятая колонна", "пятой колонны", "fifth column"),
    "враг народа": ("враг народа", "врагов народа", "халық жауы", "enemy of the people"),
    "продажный": ("продажн", "сатылған", "sold out"),
    "шпион": ("шпион", "тыңшы", "spy"),
}


def _stem_pattern(stem: str) -> str:
    words = [re.escape(w) for w in stem.split()]
    return r"\b" + r"\w*\s+".join(words)


@dataclass(frozen=True)
class Vocabulary:
    """Terms and the stems that count for each, with where the list came from."""

    terms: Mapping[str, tuple[str, ...]]
    origin: str

    def __post_init__(self) -> None:
        patterns = {
            term: re.compile("|".join(_stem_pattern(s) for s in stems), re.IGNORECASE)
            for term, stems in self.terms.items()
            if stems
        }
        object.__setattr__(self, "_patterns", patterns)
        # one pass that finds whether any term occurs: most posts have none, and then the
        # per-term patterns need not run at all
        combined = "|".join(f"(?:{p.pattern})" for p in patterns.values())
        object.__setattr__(self, "_any", re.compile(combined, re.IGNORECASE) if combined else None)

    def matches(self, text: str) -> list[str]:
        patterns: dict[str, re.Pattern[str]] = self._patterns  # type: ignore[attr-defined]
        screen: re.Pattern[str] | None = self._any  # type: ignore[attr-defined]
        if screen is None or not screen.search(text):
            return []
        return [term for term, pattern in patterns.items() if pattern.search(text)]

    def count(self, texts: Iterable[str]) -> tuple[Counter[str], int]:
        """Posts per term, and the number of posts with at least one term."""
        counts: Counter[str] = Counter()
        with_any = 0
        for text in texts:
            found = self.matches(text or "")
            counts.update(found)
            with_any += bool(found)
        return counts, with_any


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def vocabulary_from_run(stored: Mapping[str, Any] | None) -> Vocabulary:
    """The vocabulary an analysis run recorded, else the built-in list.

    Accepted shapes: {"terms": [term, ...]}, {"terms": {term: [stems]}} and
    {category: [term, ...]} (other keys such as "version" are ignored).
    """
    terms: dict[str, tuple[str, ...]] = {}
    if stored:
        listed = stored.get("terms")
        if isinstance(listed, Mapping):
            for term, stems in listed.items():
                found = _strings(stems) or [str(term)]
                terms[str(term)] = tuple(s.lower() for s in found)
        elif listed is not None:
            terms = {t: (t.lower(),) for t in _strings(listed)}
        else:
            for key, value in stored.items():
                if key in ("version", "name", "origin"):
                    continue
                for term in _strings(value):
                    terms.setdefault(term, (term.lower(),))
    if terms:
        version = stored.get("version") if stored else None
        origin = "analysis run vocabulary" + (f" {version}" if isinstance(version, str) else "")
        return Vocabulary(terms, origin)
    return Vocabulary(BUILTIN_TERMS, "built-in report list (reports/vocabulary.py)")
