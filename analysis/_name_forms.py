"""How a defender's name can be written: declension, Kazakh suffixes, transliteration.

The rules live in `analysis/data/*.toml` so that an analyst can read and correct them without
touching code; this module only interprets them. Everything here runs when a matcher is built,
never per post, so clarity wins over speed.

Strings are compared in *folded* form (`fold`): lower-cased, with the one-to-one letter
substitutions of `translit.toml [fold]` applied (ё = е, қ = к, ä = a, ...). Folding keeps the
length of the text, which is what lets the matcher report exact spans of the original post.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

__all__ = [
    "DATA_FILES",
    "Rules",
    "cyrillic_candidates",
    "fold",
    "is_cyrillic",
    "kazakh_tails",
    "last_vowel_harmony",
    "latin_tails",
    "latin_variants",
    "rules",
    "russian_forms",
]

DATA_FILES = (
    "translit.toml",
    "kazakh_suffixes.toml",
    "russian_names.toml",
    "profile_urls.toml",
    "first_names.csv",
    "diminutives.csv",
    "hashtag_words.txt",
)

# Caps keep a long, letter-ambiguous name from exploding into thousands of spellings; the
# first spellings generated are the most common ones, so truncation drops only rare ones.
MAX_LATIN_VARIANTS = 256
MAX_CYRILLIC_CANDIDATES = 4
MAX_SUFFIX_SPELLINGS = 24

_CYRILLIC_VOWELS = frozenset("аәеёиоөуұүыіэюя")
_LATIN_VOWELS = frozenset("aäeioöuüūyı")


def _read_data(name: str) -> str:
    return (resources.files("analysis.data") / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Rules:
    """The parsed rule files; one instance per process (see `rules`)."""

    fold_table: Mapping[int, str]
    cyr2lat: Mapping[str, tuple[str, ...]]
    cyr2lat_initial: Mapping[str, tuple[str, ...]]
    cyr2lat_between_vowels: Mapping[str, tuple[str, ...]]
    lat2cyr: Mapping[str, tuple[str, ...]]
    lat2cyr_penalties: tuple[tuple[re.Pattern[str], int], ...]
    kazakh: Mapping[str, Any]
    russian: Mapping[str, Any]
    profile_prefixes: Mapping[str, tuple[str, ...]]
    homoglyphs: Mapping[str, str]
    first_names: Mapping[str, str]
    diminutives: Mapping[str, tuple[str, ...]]
    hashtag_words: frozenset[str]
    kazakh_2017: Mapping[str, str]
    russified: Mapping[str, tuple[str, ...]]
    russified_drop: frozenset[str]
    kazakh_hidden: Mapping[str, str]
    kazakh_back_vowels: frozenset[str]
    digest: str

    @property
    def female_titles(self) -> frozenset[str]:
        return frozenset(self.russian.get("context", {}).get("female_titles", ()))


@cache
def rules() -> Rules:
    texts = {name: _read_data(name) for name in DATA_FILES}
    digest = hashlib.sha256()
    for name in DATA_FILES:
        digest.update(name.encode() + b"\0" + texts[name].encode() + b"\0")
    translit = tomllib.loads(texts["translit.toml"])
    fold_table: dict[int, str] = {}
    for src, dst in translit["fold"].items():
        if len(src) != 1 or len(dst) != 1:
            raise ValueError(f"translit.toml [fold]: {src!r} = {dst!r} must map one letter to one")
        fold_table[ord(src)] = dst
        fold_table[ord(src.upper())] = dst
    fold_table[ord("İ")] = "i"  # its lower case is two characters long

    def table(section: str) -> dict[str, tuple[str, ...]]:
        return {k: tuple(v) for k, v in translit.get(section, {}).items()}

    first_names: dict[str, str] = {}
    for row in csv.reader(io.StringIO(texts["first_names.csv"])):
        if not row or row[0].startswith("#") or row[0] == "name":
            continue
        first_names[row[0].strip()] = row[1].strip() if len(row) > 1 else "*"
    diminutives: dict[str, tuple[str, ...]] = {}
    for row in csv.reader(io.StringIO(texts["diminutives.csv"])):
        if len(row) < 2 or row[0].startswith("#") or row[0] == "name":
            continue
        key = row[0].strip().lower().translate(fold_table)
        diminutives[key] = tuple(f.lower() for f in row[1].split())
    words = frozenset(
        line.strip().lower()
        for line in texts["hashtag_words.txt"].splitlines()
        if line.strip() and not line.startswith("#")
    )
    prefixes = tomllib.loads(texts["profile_urls.toml"])["prefixes"]
    return Rules(
        fold_table=fold_table,
        cyr2lat=table("cyrillic_to_latin"),
        cyr2lat_initial=table("cyrillic_to_latin_initial"),
        cyr2lat_between_vowels=table("cyrillic_to_latin_between_vowels"),
        lat2cyr=table("latin_to_cyrillic"),
        lat2cyr_penalties=tuple(
            (re.compile(k), int(v))
            for k, v in translit.get("latin_to_cyrillic_penalties", {}).items()
        ),
        kazakh=tomllib.loads(texts["kazakh_suffixes.toml"]),
        russian=tomllib.loads(texts["russian_names.toml"]),
        profile_prefixes={k: tuple(v) for k, v in prefixes.items()},
        homoglyphs={
            k: fold_table.get(ord(v), v) for k, v in translit.get("homoglyphs", {}).items()
        },
        first_names=first_names,
        diminutives=diminutives,
        hashtag_words=frozenset(w.translate(fold_table) for w in words),
        kazakh_2017=dict(translit.get("kazakh_latin_2017", {})),
        russified={
            k: tuple(v)
            for k, v in translit.get("russified", {}).items()
            if k != "drop_between_consonants"
        },
        russified_drop=frozenset(translit.get("russified", {}).get("drop_between_consonants", ())),
        kazakh_hidden={
            k: v for k, v in translit.get("kazakh_hidden", {}).items() if k != "back_vowels"
        },
        kazakh_back_vowels=frozenset(translit.get("kazakh_hidden", {}).get("back_vowels", ())),
        digest=digest.hexdigest(),
    )


def fold(text: str) -> str:
    """Lower-case and fold `text` without changing its length (see the module docstring)."""
    low = text.lower()
    if len(low) != len(text):
        low = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    return low.translate(rules().fold_table)


_CYRILLIC = re.compile("[\u0400-\u04ff]")


def is_cyrillic(word: str) -> bool:
    return _CYRILLIC.search(word) is not None


def _spell(
    word: str,
    table: Mapping[str, tuple[str, ...]],
    cap: int,
    option_at: Any = None,
) -> list[str]:
    """All spellings of `word` under a letter-group table, most common first, at most `cap`."""
    longest = max((len(k) for k in table), default=1)

    @cache
    def rest(i: int) -> tuple[str, ...]:
        if i >= len(word):
            return ("",)
        out: dict[str, None] = {}
        for size in range(min(longest, len(word) - i), 0, -1):
            group = word[i : i + size]
            options = option_at(i, group) if option_at else None
            if options is None:
                options = table.get(group)
            if options is None:
                if size == 1:
                    options = (group,)
                else:
                    continue
            for option in options:
                for tail in rest(i + size):
                    out.setdefault(option + tail, None)
                    if len(out) >= cap:
                        return tuple(out)
        return tuple(out)

    return list(rest(0))


def latin_variants(
    cyrillic: str, *, word_initial: bool = True, cap: int = MAX_LATIN_VARIANTS
) -> list[str]:
    """Latin spellings of a lower-case Cyrillic word (or suffix, with `word_initial=False`)."""
    r = rules()

    def option_at(i: int, group: str) -> tuple[str, ...] | None:
        if len(group) != 1:
            return None
        prev = cyrillic[i - 1] if i else ""
        if group in r.cyr2lat_initial and ((i == 0 and word_initial) or prev in _CYRILLIC_VOWELS):
            return r.cyr2lat_initial[group]
        nxt = cyrillic[i + 1] if i + 1 < len(cyrillic) else ""
        if (
            group in r.cyr2lat_between_vowels
            and prev in _CYRILLIC_VOWELS
            and nxt in _CYRILLIC_VOWELS
        ):
            return r.cyr2lat_between_vowels[group]
        return None

    spellings = _spell(cyrillic, r.cyr2lat, cap, option_at)
    if r.kazakh_2017:
        spellings.append(kazakh_2017_spelling(cyrillic))
    return list(dict.fromkeys(fold(s) for s in spellings))


def kazakh_2017_spelling(cyrillic: str) -> str:
    """The spelling of a lower-case Cyrillic word in the 2017 Kazakh Latin alphabet."""
    table = rules().kazakh_2017
    return "".join(table.get(c, c) for c in cyrillic)


def kazakh_letters_restored(word: str) -> str | None:
    """The Kazakh spelling a Russian-spelled Kazakh name may hide (Жаксылыков -> Жақсылықов),
    so that its Kazakh Latin spellings (Jaqsylyqov) are generated too; None when the word
    has no letter to restore. A guess by the neighbouring vowels: it only adds spellings."""
    r = rules()
    letters = list(word)
    changed = False
    for i, c in enumerate(word):
        kazakh = r.kazakh_hidden.get(c)
        if kazakh is None:
            continue
        prev = word[i - 1] if i else ""
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if prev in r.kazakh_back_vowels or nxt in r.kazakh_back_vowels:
            letters[i] = kazakh
            changed = True
    return "".join(letters) if changed else None


def russified_variants(word: str, cap: int = 8) -> list[str]:
    """Other spellings of a lower-case Kazakh Cyrillic word in Russian-language posts, beyond
    what folding does (Әбдіқадыров -> абдыкадыров, Тілеуберді -> тлеуберды), without `word`."""
    r = rules()
    if not any(c in r.russified or c in r.russified_drop for c in word):
        return []
    consonants = set("бвгғджзйклмнпрстфхһцчшщқң")
    options: list[tuple[str, ...]] = []
    for i, c in enumerate(word):
        opts = (c, *r.russified.get(c, ()))
        if (
            c in r.russified_drop
            and 0 < i < len(word) - 1
            and word[i - 1] in consonants
            and word[i + 1] in consonants
        ):
            opts = (*opts, "")
        options.append(opts)
    out: dict[str, None] = {}

    def walk(i: int, acc: str) -> None:
        if len(out) >= cap + 1:
            return
        if i == len(options):
            out.setdefault(acc, None)
            return
        for o in options[i]:
            walk(i + 1, acc + o)

    # Vary one letter class at a time first (the usual habits), then everything together.
    for c, alts in r.russified.items():
        for alt in alts:
            out.setdefault(word.replace(c, alt), None)
    walk(0, "")
    base = fold(word)
    return [v for v in out if fold(v) != base and len(v) >= 4][:cap]


@lru_cache(maxsize=4096)
def _cyrillic_candidates(latin: str, cap: int) -> tuple[str, ...]:
    r = rules()
    guesses = list(dict.fromkeys(fold(s) for s in _spell(latin, r.lat2cyr, 400)))
    morph = _morph()

    def score(guess: str) -> int:
        if morph.word_is_known(guess) and any(
            p.normal_form == guess and ({"Name", "Surn"} & set(p.tag.grammemes))
            for p in morph.parse(guess)
        ):
            return -10
        return sum(w for pattern, w in r.lat2cyr_penalties if pattern.search(guess))

    ranked = sorted(range(len(guesses)), key=lambda i: (score(guesses[i]), i))
    return tuple(guesses[i] for i in ranked[:cap])


def cyrillic_candidates(latin: str, *, cap: int = MAX_CYRILLIC_CANDIDATES) -> list[str]:
    """The Cyrillic words a Latin-spelled name most likely stands for (Ormanova -> орманова),
    folded, most likely first."""
    return list(_cyrillic_candidates(latin.lower(), cap))


def _rule_forms(word: str, role: str, gender: str) -> list[str]:
    """Russian singular case forms of `word` from the `russian_names.toml` table for `role`."""
    genders = ("m", "f") if gender not in ("m", "f") else (gender,)
    forms: dict[str, None] = {word: None}
    for g in genders:
        best = None
        for rule in rules().russian.get(role, ()):
            if rule["gender"] not in (g, "*"):
                continue
            ending = rule["ending"]
            if not word.endswith(ending) or len(word) <= len(ending):
                continue
            if best is None or len(ending) > len(best["ending"]):
                best = rule
        if best is None:
            continue
        stem = word[: len(word) - len(best["ending"])] if best["ending"] else word
        for form in best["forms"]:
            forms.setdefault(word + form[1:] if form.startswith("+") else stem + form, None)
    return list(forms)


@cache
def _morph() -> Any:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def morph_parse(word: str) -> list[Any]:
    return _morph().parse(word)


@lru_cache(maxsize=65536)
def is_known_first_name(word: str) -> bool:
    """True when the Russian dictionary knows `word` (lower-case Cyrillic) as a first name."""
    morph = _morph()
    if not morph.word_is_known(word):
        return False
    return any("Name" in p.tag for p in morph.parse(word))


@lru_cache(maxsize=65536)
def is_dictionary_word(word: str) -> bool:
    return len(word) >= 4 and is_cyrillic(word) and _morph().word_is_known(word)


@lru_cache(maxsize=65536)
def is_common_word(word: str) -> bool:
    """A Russian word whose most likely reading is not a name (ли, пак, хан)."""
    morph = _morph()
    if not is_cyrillic(word) or not morph.word_is_known(word):
        return False
    grammemes = set(morph.parse(word)[0].tag.grammemes)
    return not grammemes & {"Name", "Surn", "Patr", "Geox", "Orgn"}


@cache
def _common_word_rules() -> tuple[frozenset[str], dict[str, set[str]], dict[str, set[str]]]:
    """The extra common words, and the set phrases as {word: words before} / {word: after}."""
    section = rules().russian.get("common_words", {})
    words = frozenset(fold(w) for w in section.get("words", ()))
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for phrase in section.get("set_phrases", ()):
        a, b = (fold(w) for w in phrase.split())
        before.setdefault(b, set()).add(a)
        after.setdefault(a, set()).add(b)
    return words, before, after


def is_common_surname(word: str) -> bool:
    """Is a lower-case Cyrillic surname also an ordinary word (мороз, черноморский, жолдас)?
    Listed in russian_names.toml [common_words], or known to the Russian dictionary as a noun
    or adjective that is not a name with some weight."""
    if fold(word) in _common_word_rules()[0]:
        return True
    morph = _morph()
    if not is_cyrillic(word) or not morph.word_is_known(word):
        return False
    return any(
        p.normal_form == word
        and p.score >= 0.05
        and p.tag.POS in ("NOUN", "ADJF")
        and not set(p.tag.grammemes) & {"Name", "Surn", "Patr", "Geox", "Orgn"}
        for p in morph.parse(word)
    )


@lru_cache(maxsize=65536)
def lemma(word: str) -> str:
    """The dictionary form of a lower-case word (folded); the word itself when unknown."""
    if not is_cyrillic(word):
        return word
    return fold(_morph().parse(word)[0].normal_form)


def in_set_phrase(nominative: str, before: str | None, after: str | None) -> bool:
    """Is the common-word surname `nominative` (folded) part of a set phrase (Дед Мороз)?"""
    _, phrase_before, phrase_after = _common_word_rules()
    if before and lemma(fold(before)) in phrase_before.get(nominative, ()):
        return True
    return bool(after and lemma(fold(after)) in phrase_after.get(nominative, ()))


@cache
def _place_words() -> tuple[frozenset[str], frozenset[str]]:
    section = rules().russian.get("places", {})
    return (
        frozenset(fold(w) for w in section.get("before", ())),
        frozenset(fold(w) for w in section.get("after", ())),
    )


@lru_cache(maxsize=65536)
def is_place_word(token: str, *, after: bool = False) -> bool:
    """Does `token` (next to a surname) make it the name of a street or a village?"""
    f = fold(token).rstrip(".")
    if after:
        # Kazakh place words take suffixes themselves (көшесінде, ауылынан)
        return any(f.startswith(w) for w in _place_words()[1])
    words = _place_words()[0]
    return f in words or lemma(f) in words


@lru_cache(maxsize=65536)
def is_feminine_predicate(word: str) -> bool:
    """A past-tense verb or short adjective in the feminine (заявила, виновна)."""
    morph = _morph()
    if not is_cyrillic(word) or not morph.word_is_known(word):
        return False
    best = morph.parse(word)[0].tag
    return best.gender == "femn" and (
        best.POS == "VERB" and best.tense == "past" or best.POS in ("ADJS", "PRTS")
    )


@cache
def _first_name_genders() -> Mapping[str, str]:
    return {fold(name): gender for name, gender in rules().first_names.items()}


@lru_cache(maxsize=65536)
def first_name_gender(word: str) -> str | None:
    """'m' or 'f' for a lower-case Cyrillic first name the dictionary or the name list knows."""
    gender = _first_name_genders().get(fold(word))
    if gender in ("m", "f"):
        return gender
    morph = _morph()
    if morph.word_is_known(word):
        for p in morph.parse(word):
            if "Name" in p.tag and p.tag.number == "sing" and p.tag.case == "nomn":
                return {"masc": "m", "femn": "f"}.get(p.tag.gender)
    return None


def russian_forms(word: str, role: str, gender: str) -> list[str]:
    """Singular case forms of a lower-case Cyrillic name word, nominative first.

    `role` is "surname", "first_name" or "patronymic"; `gender` "m", "f" or "u" (unknown: the
    forms of both). First names the dictionary knows also get its forms (Мария -> Марией).
    """
    forms = dict.fromkeys(_rule_forms(word, role, gender))
    if role == "first_name":
        wanted = {"m": {"masc"}, "f": {"femn"}}.get(gender, {"masc", "femn"})
        morph = _morph()
        if morph.word_is_known(word):
            for p in morph.parse(word):
                if "Name" in p.tag and p.tag.case == "nomn" and p.tag.gender in wanted:
                    for f in p.lexeme:
                        if f.tag.number == "sing":
                            forms.setdefault(f.word, None)
    return list(forms)


# --- Kazakh suffixes ---------------------------------------------------------------------


def _sound_classes(letter: str) -> list[str]:
    classes = rules().kazakh["sound_classes"]
    return [name for name, letters in classes.items() if letter in letters]


def _harmonies(word: str) -> tuple[int, ...]:
    """0 for back, 1 for front vowel harmony; both when the last vowel is ambiguous, and both
    for loanword endings (or everywhere, where the rules say to accept both)."""
    h = rules().kazakh["harmony"]
    if h.get("accept_both") or word.endswith(tuple(h.get("loan_endings", ()))):
        return (0, 1)
    return last_vowel_harmony(word)


def last_vowel_harmony(word: str) -> tuple[int, ...]:
    """The harmony the word's last vowel asks for, by the rules alone: 0 back, 1 front, both
    when that vowel is ambiguous or there is none."""
    h = rules().kazakh["harmony"]
    for c in reversed(word):
        if c in h["back"]:
            return (0,)
        if c in h["front"]:
            return (1,)
        if c in h["either"]:
            return (0, 1)
    return (0, 1)


def _suffix(table: Mapping[str, Sequence[str]], letter: str, harmony: int) -> list[str]:
    return [table[c][harmony] for c in _sound_classes(letter) if c in table]


@cache
def _kazakh_chains(
    last: str, harmonies: tuple[int, ...], cases_only: bool = False
) -> frozenset[str]:
    kz = rules().kazakh
    cases: Mapping[str, Mapping[str, Sequence[str]]] = kz["cases"]
    after: Mapping[str, Mapping[str, Sequence[str]]] = kz.get("after_possessive", {})
    out: set[str] = set()
    for h in harmonies:

        def add_cases(base: str, possessive: str | None, h: int = h) -> None:
            end = base[-1] if base else last
            override = after.get(possessive or "", {})
            for case, table in cases.items():
                if case in override:
                    out.add(base + override[case][h])
                else:
                    out.update(base + s for s in _suffix(table, end, h))

        def add_possessives(base: str, h: int = h) -> None:
            end = base[-1] if base else last
            for name, table in kz["possessive"].items():
                for s in _suffix(table, end, h):
                    out.add(base + s)
                    add_cases(base + s, name)

        add_cases("", None)
        if cases_only:
            continue
        add_possessives("")
        for plural in _suffix(kz["plural"], last, h):
            out.add(plural)
            add_cases(plural, None)
            add_possessives(plural)
    return frozenset(out)


def kazakh_tails(word: str, cases_only: bool = False) -> frozenset[str]:
    """Folded Cyrillic suffix chains (with the optional separators) that may follow `word`;
    with `cases_only`, only the case suffixes (no plural or possessive)."""
    word = word.lower()
    if not word:
        return frozenset()
    return _kazakh_tails(word[-1], _harmonies(word), cases_only)


@cache
def _kazakh_tails(
    last: str, harmonies: tuple[int, ...], cases_only: bool = False
) -> frozenset[str]:
    marks = rules().kazakh.get("separators", {}).get("marks", [])
    out = {fold(c) for c in _kazakh_chains(last, harmonies, cases_only)}
    out |= {m + c for m in marks for c in list(out)}
    out.add("")
    return frozenset(out)


def voiced_stem(word: str) -> tuple[str, frozenset[str]] | None:
    """The voiced spelling of `word` before vowel-initial suffixes (Сыздық -> Сыздығ) and the
    folded suffix chains it takes, or None when the word does not end in such a consonant."""
    word = word.lower()
    voiced = rules().kazakh.get("voicing", {}).get(word[-1:]) if word else None
    if not voiced:
        return None
    vowels = set(fold("аәеиоөұүыіэюя"))
    tails = frozenset(t for t in kazakh_tails(word) if t[:1] in vowels)
    return word[:-1] + voiced, tails


@cache
def _latin_chain_spellings(
    last: str, harmonies: tuple[int, ...], cases_only: bool = False
) -> frozenset[str]:
    out: set[str] = set()
    for chain in _kazakh_chains(last, harmonies, cases_only):
        spellings = latin_variants(chain, word_initial=False, cap=MAX_SUFFIX_SPELLINGS)
        out.update(spellings)
        # 2017 alphabet: a final apostrophe (nyn') is often left out or eaten by punctuation
        out.update(s.rstrip("'") for s in spellings if s.endswith("'"))
    return frozenset(out)


def latin_tails(word: str, cases_only: bool = False) -> frozenset[str]:
    """Folded Latin suffixes after a Latin spelling of the Cyrillic `word`: Kazakh chains in
    the 2021, 2017 and common transliterations, and the English possessive."""
    word = word.lower()
    return _latin_tails(word[-1] if word else "", _harmonies(word), cases_only)


@cache
def _latin_tails(last: str, harmonies: tuple[int, ...], cases_only: bool = False) -> frozenset[str]:
    kz = rules().kazakh
    out = set(_latin_chain_spellings(last, harmonies, cases_only)) if last else set()
    marks = kz.get("separators", {}).get("marks", [])
    out |= {m + c for m in marks for c in list(out)}
    # A Latin name with a Cyrillic suffix, set off by a hyphen or apostrophe (Kesler-ге).
    if last:
        out |= {t for t in _kazakh_tails(last, harmonies, cases_only) if t[:1] in marks}
    out.update(fold(p) for p in kz.get("english", {}).get("possessive", []))
    out.add("")
    return frozenset(out)


@cache
def name_shapes() -> Mapping[str, tuple[str, ...]]:
    shapes = rules().russian.get("shapes", {})
    return {k: tuple(fold(x) for x in v) for k, v in shapes.items()}


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
