"""Smear vocabulary for the week's term counts: the analysis' own list where a run used it.

An analysis run records which vocabulary file it used (`analysis_run.vocabulary`: version,
SHA-256 and the category names, as `analysis.smear.Vocabulary.to_dict` gives them). The report
then counts the *hostile* terms of that file per category ("foreign agent", "grant eater"),
so the week's counts and the cluster flags speak the same language, and support vocabulary
("solidarity") is never counted as smear. Other stored shapes (term lists) are read as
terms; without a run, the small built-in list below is used (stems, matched as word
prefixes, case-insensitive, Cyrillic and Latin).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import orjson

__all__ = [
    "BUILTIN_TERMS",
    "MATCHER_VERSION",
    "Vocabulary",
    "analysis_vocabulary",
    "vocabulary_from_run",
]

# Part of every `Vocabulary.key`: raise it when `Vocabulary.matches` would answer any text
# differently, so that answers stored under the old rules are no longer taken.
MATCHER_VERSION = 1

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
    """Each word as a word prefix; a final "$" (the analysis file's syntax) ends the word."""
    whole = stem.endswith("$")
    words = [re.escape(w) for w in stem.rstrip("$").replace("-", " ").split()]
    # Between words anything that is not a letter, as the analysis' normalised text has
    # punctuation and "#" removed ("foreign-agent", "foreign, agent").
    return r"\b" + r"\w*\W+".join(words) + (r"(?!\w)" if whole else "")


_Compiled = tuple[dict[str, re.Pattern[str]], re.Pattern[str] | None, "_Lowered | None"]


@dataclass(frozen=True)
class Vocabulary:
    """Terms and the stems that count for each, with where the list came from."""

    terms: Mapping[str, tuple[str, ...]]
    origin: str

    @cached_property
    def _compiled(self) -> _Compiled:
        """The patterns, compiled when a text is first matched: a week report whose posts all
        have stored terms (`reports.terms`) needs only `key`, and compiling reads the running
        Python's case tables (`_case_tables`), about half a second per process."""
        patterns = {
            term: re.compile("|".join(_stem_pattern(s) for s in stems), re.IGNORECASE)
            for term, stems in self.terms.items()
            if stems
        }
        # One pass that finds whether any term occurs at all: most posts have none, and then
        # the per-term patterns need not run. Case-insensitive Unicode matching is slow in
        # `re`, so the screen runs case-sensitively on `text.lower()` where that is provably
        # the same (see `_lowered_screen`), and case-insensitively otherwise.
        combined = "|".join(f"(?:{p.pattern})" for p in patterns.values())
        screen = re.compile(combined, re.IGNORECASE) if combined else None
        return patterns, screen, _lowered_screen(self.terms, patterns)

    @property
    def _patterns(self) -> dict[str, re.Pattern[str]]:
        return self._compiled[0]

    @property
    def key(self) -> str:
        """What the terms found in a text depend on: the terms, their stems and the matcher.

        Stored answers (`db.models.PostSmearTerms`) carry it and are taken only under the same
        key, so a new vocabulary file or a change of the matching rules (bump
        `MATCHER_VERSION`) is never answered from rows found under the old ones. The origin
        text is left out: it changes no match.
        """
        listed = [[term, list(stems)] for term, stems in self.terms.items()]
        data = orjson.dumps([MATCHER_VERSION, listed])
        return hashlib.sha256(data).hexdigest()[:32]

    def matches(self, text: str) -> list[str]:
        patterns, screen, lowered = self._compiled
        if screen is None:
            return []
        if lowered is not None and lowered.odd.search(text) is None:
            low = text.lower()
            if lowered.odd_lowered.search(low) is None:
                if lowered.starts is not None:
                    return lowered.starts.matches(low)
                if lowered.any.search(low) is None:
                    return []
                return [term for term, pattern in lowered.terms.items() if pattern.search(low)]
        if not screen.search(text):
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


@cache
def _case_tables() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]] | None:
    """What `re.IGNORECASE` does beyond `str.lower()`, from the running Python's own tables.

    Returns a character class of the characters whose `str.lower()` is not their simple
    lowercase as `re` uses it (İ: two characters), or that lowering turns into or out of a word
    character; and `re`'s extra equivalences between lowercase letters (i and ı, s and ſ,
    в and the old Cyrillic ᲀ, ...). None on a Python without these tables.
    """
    try:
        import _sre
        from re._casefix import _EXTRA_CASES  # type: ignore[import-not-found]
    except ImportError:  # another Python: no fast path, same results
        return None
    odd = set()
    for code in range(sys.maxunicode + 1):
        if not _sre.unicode_iscased(code):
            continue
        char = chr(code)
        low = char.lower()
        simple = len(low) == 1 and ord(low) == _sre.unicode_tolower(code)
        if not simple or char.isalnum() != low.isalnum():
            odd.add(char)
    pattern = re.compile("[" + "".join(re.escape(c) for c in sorted(odd)) + "]")
    extra = {chr(k): tuple(chr(c) for c in v) for k, v in _EXTRA_CASES.items()}
    return pattern, extra


@dataclass(frozen=True)
class _Lowered:
    odd: re.Pattern[str]  # characters where IGNORECASE and str.lower() disagree
    odd_lowered: re.Pattern[str]  # `re`'s extra equivalents of the stems' letters
    any: re.Pattern[str]  # every term, case-sensitive, for lowered text
    terms: dict[str, re.Pattern[str]]  # each term, case-sensitive, for lowered text
    starts: _StemStarts | None = None  # the same answers, found from the stems' first words


def _is_word(char: str) -> bool:
    """`re`'s `\\w` for one character of a str pattern: alphanumeric (str.isalnum, which is
    Python's isalpha/isdecimal/isdigit/isnumeric, as `_sre` tests it) or the underscore."""
    return char.isalnum() or char == "_"


class _StemStarts:
    """Which terms occur in a lowered text, from one Aho-Corasick pass over it.

    Every stem pattern is `\\b` + its first word literally + the rest (`_stem_pattern`), so a
    term's pattern matches somewhere exactly when, at some occurrence of one of its stems'
    first words that starts at a word boundary, that stem's pattern matches from there. The
    automaton (C, overlapping occurrences) finds every occurrence of every first word in one
    pass; a stem that is that word alone needs only the boundary test, others one anchored
    `match`. On the bench's 100,000 mention posts of a week this takes about a third of the
    time of one `re.search` per term, whose Unicode alternations `re` scans position by
    position. Same answers as the per-term patterns, in the same term order.
    """

    def __init__(self, terms: Mapping[str, re.Pattern[str]], stems: Mapping[str, Iterable[str]]):
        import ahocorasick

        self.order = list(terms)
        per_word: dict[str, tuple[set[int], dict[int, list[str]]]] = {}
        for index, term in enumerate(self.order):
            for stem in stems[term]:
                pattern = _stem_pattern(stem)
                first = stem.rstrip("$").replace("-", " ").split()[0]
                simple, rest = per_word.setdefault(first, (set(), {}))
                if pattern == r"\b" + re.escape(first):
                    simple.add(index)
                else:
                    rest.setdefault(index, []).append(pattern)
        self.automaton = ahocorasick.Automaton()
        for first, (simple, rest) in per_word.items():
            anchored = tuple(
                (index, re.compile("|".join(f"(?:{p})" for p in patterns)))
                for index, patterns in sorted(rest.items())
                if index not in simple  # the word alone already shows the term
            )
            self.automaton.add_word(first, (len(first) - 1, tuple(sorted(simple)), anchored))
        self.automaton.make_automaton()

    @staticmethod
    def usable(stems: Iterable[str]) -> bool:
        """Every stem has a first word that starts with a word character (then its `\\b`
        means "not preceded by a word character", which `matches` tests directly)."""
        for stem in stems:
            words = stem.rstrip("$").replace("-", " ").split()
            if not words or not _is_word(words[0][0]):
                return False
        return True

    def matches(self, low: str) -> list[str]:
        found: set[int] = set()
        for end, (back, simple, anchored) in self.automaton.iter(low):
            start = end - back
            if start:
                before = low[start - 1]  # `_is_word`, inlined: this loop runs per occurrence
                if before.isalnum() or before == "_":
                    continue  # inside a word: no stem starts here
            found.update(simple)
            for index, pattern in anchored:
                if index not in found and pattern.match(low, start):
                    found.add(index)
        return [self.order[i] for i in sorted(found)]


def _lowered_screen(
    per_term: Mapping[str, tuple[str, ...]], patterns: Mapping[str, re.Pattern[str]]
) -> _Lowered | None:
    """Case-sensitive patterns for lowered text, or None where that could differ.

    `re` with IGNORECASE matches a text character c against a lowercase pattern character x
    when the simple lowercase of c is x or one of `re`'s extra equivalents of x. If c is not
    odd, its simple lowercase is `c.lower()`; if moreover `c.lower()` is no extra equivalent
    of any pattern letter, the match is exactly `c.lower() == x`, and lowering changes no
    character's length or word-character class. So for a text with neither kind of
    character, a lowercase pattern finds a match in `text.lower()` exactly when the
    IGNORECASE pattern finds one in the text.
    """
    tables = _case_tables()
    if tables is None or not patterns:
        return None
    stems = [s for term in patterns for s in per_term[term]]
    odd, extra = tables
    letters = set("".join(stems))
    if any(c != c.lower() or odd.search(c) for c in letters):
        return None
    equivalents = {e for c in letters for e in extra.get(c, ())}
    if equivalents & letters:
        return None  # two equivalent letters in the stems themselves: keep it simple
    # NUL is never a pattern letter's equivalent: it keeps the class valid when there are none
    odd_lowered = re.compile("[\\x00" + "".join(re.escape(c) for c in sorted(equivalents)) + "]")
    terms = {term: re.compile(p.pattern) for term, p in patterns.items()}
    combined = re.compile("|".join(f"(?:{p.pattern})" for p in patterns.values()))
    starts = _StemStarts(terms, per_term) if _StemStarts.usable(stems) else None
    return _Lowered(odd, odd_lowered, combined, terms, starts)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [v.strip() for v in value if isinstance(v, str) and v.strip()]


def analysis_vocabulary(stored: Mapping[str, Any] | None = None) -> Vocabulary:
    """The hostile terms of the analysis vocabulary file, one report term per category.

    `stored` is what a run recorded; when the file has changed since (another SHA-256), the
    origin says so, because the counts then use the current file.
    """
    from analysis.smear import load_vocabulary

    current = load_vocabulary()
    terms = {
        category.replace("_", " "): tuple(t.lower().replace("ё", "е") for t in found)
        for category, found in current.hostile_terms.items()
    }
    origin = f"analysis vocabulary {current.version}"
    if stored and stored.get("sha256") and stored["sha256"] != current.sha256:
        origin += (
            f" (the analysis run used version {stored.get('version', '?')}; "
            "the file has changed since)"
        )
    return Vocabulary(terms, origin)


def vocabulary_from_run(stored: Mapping[str, Any] | None) -> Vocabulary:
    """The vocabulary an analysis run recorded, else the built-in list.

    Accepted shapes: the analysis' own record ({"version", "sha256", "hostile_categories",
    ...}: the file's hostile terms are counted), {"terms": [term, ...]},
    {"terms": {term: [stems]}} and {category: [term, ...]} (other keys such as "version" are
    ignored).
    """
    if stored and "hostile_categories" in stored:
        return analysis_vocabulary(stored)
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
                if key in ("version", "name", "origin", "sha256"):
                    continue
                for term in _strings(value):
                    terms.setdefault(term, (term.lower(),))
    if terms:
        version = stored.get("version") if stored else None
        origin = "analysis run vocabulary" + (f" {version}" if isinstance(version, str) else "")
        return Vocabulary(terms, origin)
    return Vocabulary(BUILTIN_TERMS, "built-in report list (reports/vocabulary.py)")
