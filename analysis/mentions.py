"""Find the defenders a post talks about: their names, in any written form, and their handles.

Smear posts rarely spell a name the way the config does. They decline it (Ормановой), add
Kazakh suffixes (Ормановаға), transliterate it (Ormanova, Ormanovaga), swap first name and
surname, add a patronymic, shorten the first name to an initial, glue it into a hashtag
(#ОрмановаПредатель) or tag a handle. A monitor that only finds the configured string misses
most of a campaign; one that matches loosely drowns analysts in other people.

How it works, and why:

* At build time every alias word is expanded into the spellings it can take (`_name_forms`):
  Russian case forms, Latin transliterations of the base form, and, as a separate *tail set*,
  the Kazakh suffix chains and the English possessive that may follow the base form. All
  spellings of all defenders go into one Aho-Corasick automaton, so a post is scanned once
  whatever the number of defenders (no per-alias regex loop).
* Posts are scanned in folded form (lower-case, ё = е, қ = к, ä = a, ...), which keeps offsets,
  so every hit maps back to the exact text span.
* Each hit is verified in context: a letter right before it means another word (Абдиорманова);
  the rest of the word after it must be empty or an allowed suffix (Ормановаға yes, Ормановка
  no). Inside a hashtag, camel case, underscores and known words also separate words.
* Several-word aliases are assembled from word hits: in either order, with an optional
  patronymic between, the first name possibly shortened to an initial.
* A surname alias found alone is rejected when the word next to it is somebody else's first
  name or initial (Айгуль Орманова is not Бахыт Орманова); a man's surname that is also his
  female relative's name (Темирханова) is rejected when the context marks a woman.
* Handles match exactly, as @mentions, in profile links and in the post's metadata; a name
  inside a link, an @handle or an e-mail address is not a mention of the name.

Choices worth knowing:

* A defender's `name` counts as one more alias.
* `Mention.field` is "text", "url", or for the list fields the item index in brackets:
  "hashtags[2]", "mentions[0]", "links[1]"; `start`/`end` index into that string as given.
  `matched_text` includes a glued suffix (Ормановаға, Ormanova's). For handles it is the
  "@handle" in running text and the bare handle in links and metadata; `alias` is then the
  configured handle.
* An @mention matches a configured handle of any platform; a profile link only the handles of
  the platform the link belongs to (profile_urls.toml).
* Kazakh suffixes that also spell a Russian ending of a word built on the name (Исаевка, a
  village) count only in a post that looks Kazakh (kazakh_suffixes.toml, russian_lookalikes).
* A short surname that is also a common word (Ли, Пак) counts alone only with a capital
  letter; a short name is not matched by a Kazakh word that differs in a Kazakh letter
  (кім is not Ким).
* Latin letters slipped into a Cyrillic word to dodge monitoring (Opманова) are read as the
  Cyrillic letters they imitate.
* Plural forms (Ормановы, the Ormanov family) are not generated.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

import ahocorasick

from analysis import _name_forms as nf

__all__ = [
    "RULES_VERSION",
    "AliasReading",
    "DefenderReading",
    "Defender",
    "Mention",
    "MentionMatcher",
    "matcher_fingerprint",
    "read_aliases",
]

# Bump when the matching code changes what it finds; the data files are hashed separately.
RULES_VERSION = "mentions-2"


class Defender(Protocol):
    """What the matcher needs from a configured defender."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def aliases(self) -> tuple[str, ...]: ...

    @property
    def handles(self) -> Mapping[str, tuple[str, ...]]: ...


@dataclass(frozen=True, slots=True)
class Mention:
    """One defender found in one field of a post.

    `alias` is the configured alias (or handle) that matched; `matched_text` is exactly
    `field_text[start:end]`, including any suffix glued to the name (Ормановаға).
    """

    defender_id: str
    alias: str
    matched_text: str
    start: int
    end: int
    field: str


def matcher_fingerprint(defenders: Iterable[Defender]) -> str:
    """A hash of everything that changes what the matcher finds.

    Stored with each matching run: when it differs from the current one, stored mentions were
    made by other rules or another defender list and must be recomputed.
    """
    payload = {
        "version": RULES_VERSION,
        "data": nf.rules().digest,
        "defenders": sorted(
            [
                d.id,
                d.name,
                list(d.aliases),
                sorted((p, sorted(_as_tuple(h))) for p, h in dict(d.handles).items()),
            ]
            for d in defenders
        ),
    }
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _as_tuple(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


# --- build time --------------------------------------------------------------------------

_FIRST, _SURNAME, _PATRONYMIC = "first_name", "surname", "patronymic"
_WORD_SPLIT = re.compile(r"[\s,]+")


@dataclass
class _Word:
    """One distinct alias word, shared by every alias that uses it."""

    id: int
    text: str
    role: str
    gender: str
    keys: set[str] = field(default_factory=set)
    initials: set[str] = field(default_factory=set)
    single_aliases: list[int] = field(default_factory=list)
    anchor_aliases: list[int] = field(default_factory=list)
    kazakh_letters: bool = False
    # a surname that is also an ordinary word (Мороз): its folded nominative, else ""
    common: str = ""


@dataclass
class _Alias:
    id: int
    defender: int
    texts: list[str]
    words: tuple[int, ...]
    roles: tuple[str, ...]
    anchor: int
    others: tuple[tuple[int, str], ...] = ()

    def __post_init__(self) -> None:
        self.others = tuple(
            (w, r)
            for i, (w, r) in enumerate(zip(self.words, self.roles, strict=True))
            if i != self.anchor and r != _PATRONYMIC
        )

    def text_for(self, matched: str) -> str:
        """The configured alias to report: the first one written in the script matched."""
        if len(self.texts) > 1:
            cyrillic = nf.is_cyrillic(matched)
            return next((t for t in self.texts if nf.is_cyrillic(t) == cyrillic), self.texts[0])
        return self.texts[0]


@dataclass
class _DefenderInfo:
    id: str
    gender: str
    first_keys: set[str] = field(default_factory=set)
    first_initials: set[str] = field(default_factory=set)
    surname_keys: set[str] = field(default_factory=set)


def _shape(word: str) -> str | None:
    """The role a word's ending gives away, or None."""
    shapes = nf.name_shapes()
    if word.endswith(shapes["patronymic"]) and len(word) > 5:
        return _PATRONYMIC
    if word.endswith(shapes["surname_female"] + shapes["surname_male"] + shapes["surname_other"]):
        return _SURNAME
    return None


@cache
def _patronymic_endings() -> tuple[str, ...]:
    return nf.name_shapes()["patronymic"]


def _surname_gender(word: str) -> str | None:
    shapes = nf.name_shapes()
    if word.endswith(shapes["surname_female"]):
        return "f"
    if word.endswith(shapes["surname_male"]):
        return "m"
    return None


def _cyrillic_of(word: str) -> list[str]:
    low = word.lower()
    return [low] if nf.is_cyrillic(low) else nf.cyrillic_candidates(low)


def _looks_like_first_name(word: str) -> bool:
    return any(
        nf.first_name_gender(c) or nf.is_known_first_name(nf.fold(c)) for c in _cyrillic_of(word)
    )


def _classify(words: Sequence[str]) -> list[str]:
    """Roles of the words of one alias: which is the surname, which the first name.

    Endings decide first (-ов, -ская, -ович), except that a known first name wins over an
    ending that only looks like a surname's (Толкын, Нурлан end like Пушкин). Without any
    clue the last word is the surname, as Russian, Kazakh and English usually write it.
    """
    folded = [nf.fold(w) for w in words]
    shapes = [_shape(w) for w in folded]
    first = [_looks_like_first_name(w) for w in words]
    if len(words) == 1:
        return [_FIRST if first[0] and shapes[0] is None else _SURNAME]
    roles = [_PATRONYMIC if s == _PATRONYMIC else None for s in shapes]
    open_ = [i for i, r in enumerate(roles) if r is None]
    if open_ and all(first[i] for i in open_) and len(open_) < len(words):
        # "Айым Серікқызы", "Ерлан Бекұлы": a Kazakh patronymic is the surname when the
        # rest is first names; it is a patronymic only next to another surname.
        roles[max(i for i, r in enumerate(roles) if r == _PATRONYMIC)] = _SURNAME
        return [r or _FIRST for r in roles]
    # A known first name is never the surname while another word could be: Марина ends like
    # Рябинина, but in "Марина Вебер" it is Вебер that is the surname.
    surname = (
        [i for i in open_ if shapes[i] == _SURNAME and not first[i]]
        or [i for i in open_ if not first[i]]
        or [i for i in open_ if shapes[i] == _SURNAME]
        or open_
        or [len(words) - 1]
    )[-1]
    roles[surname] = _SURNAME
    return [r or _FIRST for r in roles]


def _defender_gender(split: list[list[str]], roles: list[list[str]]) -> str:
    for words, word_roles in zip(split, roles, strict=True):
        for w, r in zip(words, word_roles, strict=True):
            if r == _SURNAME:
                g = _surname_gender(nf.fold(w))
                if g:
                    return g
    for words, word_roles in zip(split, roles, strict=True):
        for w, r in zip(words, word_roles, strict=True):
            if r == _FIRST:
                for c in _cyrillic_of(w):
                    g = nf.first_name_gender(c)
                    if g:
                        return g
    return "u"


@dataclass(frozen=True)
class AliasReading:
    """One configured alias as the matcher reads it: its words and the role of each."""

    text: str
    words: tuple[str, ...]
    roles: tuple[str, ...]  # "first_name", "surname" or "patronymic", one per word


@dataclass(frozen=True)
class DefenderReading:
    """A defender's aliases as the matcher reads them, and the gender their endings give."""

    aliases: tuple[AliasReading, ...]
    gender: str  # "m", "f" or "u"


def read_aliases(d: Defender) -> DefenderReading:
    """Split and classify a defender's aliases exactly as the matcher does.

    Public so that what searches for a defender (the collectors' default queries, built in
    smearwatch/search_terms.py) starts from the same reading of the name as what matches it.
    """
    alias_texts = list(dict.fromkeys(a.strip() for a in (d.name, *d.aliases) if a.strip()))
    split = [[w for w in _WORD_SPLIT.split(a) if w] for a in alias_texts]
    roles = [_classify(ws) for ws in split]
    # A one-word alias takes the role its word has in the defender's full names: "Сыздық"
    # alone is the surname of "Даурен Сыздық", whatever a dictionary says about the word.
    known = {
        nf.fold(w): r
        for ws, rs in zip(split, roles, strict=True)
        if len(ws) > 1
        for w, r in zip(ws, rs, strict=True)
    }
    roles = [
        [known.get(nf.fold(ws[0]), rs[0])] if len(ws) == 1 else rs
        for ws, rs in zip(split, roles, strict=True)
    ]
    return DefenderReading(
        aliases=tuple(
            AliasReading(text, tuple(ws), tuple(rs))
            for text, ws, rs in zip(alias_texts, split, roles, strict=True)
        ),
        gender=_defender_gender(split, roles),
    )


class MentionMatcher:
    """Finds defenders in posts. Build once per defender list, then call `find` per post."""

    def __init__(self, defenders: Iterable[Defender]) -> None:
        self._defenders: list[_DefenderInfo] = []
        self._aliases: list[_Alias] = []
        self._words: list[_Word] = []
        self._word_ids: dict[tuple[str, str, str], int] = {}
        self._alias_ids: dict[tuple[int, tuple[int, ...], tuple[str, ...]], int] = {}
        self._handles: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        entries: dict[str, dict[int, list[frozenset[str]]]] = defaultdict(lambda: defaultdict(list))
        defenders = list(defenders)
        self.fingerprint = matcher_fingerprint(defenders)
        for d in defenders:
            self._add_defender(d, entries)
        self._automaton = ahocorasick.Automaton()
        # Tail sets are shared between the many spellings of a word; union them only where
        # one spelling gets several (rare), so building stays fast for hundreds of defenders.
        unions: dict[tuple[int, ...], frozenset[str]] = {}
        for key, per_word in entries.items():
            payload = []
            for word_id, sets in per_word.items():
                distinct = {id(t): t for t in sets}
                if len(distinct) == 1:
                    tails = next(iter(distinct.values()))
                else:
                    ident = tuple(sorted(distinct))
                    if ident not in unions:
                        unions[ident] = frozenset().union(*distinct.values())
                    tails = unions[ident]
                payload.append((word_id, tails))
            self._automaton.add_word(key, (len(key), tuple(payload)))
        if len(self._automaton):
            self._automaton.make_automaton()
        self._first_name_keys = _first_name_keys()
        self._female_titles = nf.rules().female_titles
        self._titles = frozenset(nf.fold(t) for t in nf.rules().russian["context"]["titles"])
        self._other_cache: dict[tuple[int, str], bool] = {}

    # -- building

    def _add_defender(
        self, d: Defender, entries: dict[str, dict[int, list[frozenset[str]]]]
    ) -> None:
        index = len(self._defenders)
        reading = read_aliases(d)
        alias_texts = [a.text for a in reading.aliases]
        split = [list(a.words) for a in reading.aliases]
        roles = [list(a.roles) for a in reading.aliases]
        gender = reading.gender
        info = _DefenderInfo(id=d.id, gender=gender)
        self._defenders.append(info)
        for text, words, word_roles in zip(alias_texts, split, roles, strict=True):
            word_ids = tuple(
                self._word(w, r, gender, entries) for w, r in zip(words, word_roles, strict=True)
            )
            shape = (index, word_ids, tuple(word_roles))
            if shape in self._alias_ids:
                # "Bakhyt Ormanova" and "Бахыт Орманова" expand to the same spellings: one
                # alias to check, reported under the configured text in the script matched.
                self._aliases[self._alias_ids[shape]].texts.append(text)
                continue
            anchor = word_roles.index(_SURNAME) if _SURNAME in word_roles else len(words) - 1
            alias = _Alias(
                id=len(self._aliases),
                defender=index,
                texts=[text],
                words=word_ids,
                roles=tuple(word_roles),
                anchor=anchor,
            )
            self._alias_ids[shape] = alias.id
            self._aliases.append(alias)
            if len(word_ids) == 1:
                self._words[word_ids[0]].single_aliases.append(alias.id)
            else:
                self._words[word_ids[anchor]].anchor_aliases.append(alias.id)
            for wid, role in zip(word_ids, word_roles, strict=True):
                word = self._words[wid]
                if role == _FIRST:
                    info.first_keys |= word.keys
                    info.first_initials |= word.initials
                    if "-" in word.text:
                        # Анна-Мария is also written "Anna Maria": neither part is then
                        # somebody else's first name next to the surname.
                        info.first_keys |= _first_name_part_keys(word.text)
                elif role == _SURNAME:
                    info.surname_keys |= word.keys
        for platform, handles in dict(d.handles).items():
            for handle in _as_tuple(handles):
                key = handle.strip().lstrip("@").lower()
                if key:
                    self._handles[key].append((index, platform.lower(), handle.strip()))

    def _word(
        self,
        text: str,
        role: str,
        gender: str,
        entries: dict[str, dict[int, list[frozenset[str]]]],
    ) -> int:
        low = text.lower()
        cyrillic = _cyrillic_of(text)
        key = (nf.fold(cyrillic[0]) if cyrillic else nf.fold(low), role, gender)
        existing = self._word_ids.get(key)
        word = self._words[existing] if existing is not None else None

        def add(spelling: str, tails: frozenset[str]) -> None:
            assert word is not None
            folded = nf.fold(spelling)
            if len(folded) < 2:
                return
            entries[folded][word.id].append(tails)
            word.keys.add(folded)

        if word is None:
            word = _Word(id=len(self._words), text=text, role=role, gender=gender)
            self._words.append(word)
            self._word_ids[key] = word.id
        else:
            cyrillic = [c for c in cyrillic if nf.fold(c) not in word.keys]
        word.kazakh_letters |= _KAZAKH_LETTERS.search(text) is not None
        if role == _SURNAME and not word.common:
            word.common = next((nf.fold(c) for c in cyrillic if nf.is_common_surname(c)), "")
        # A surname that is also an ordinary word takes only the case suffixes: with a
        # possessive or plural (жолдасым, жолдастары) it is the ordinary word.
        cases_only = bool(word.common)
        if not nf.is_cyrillic(low):
            # The configured Latin spelling itself, whatever the Cyrillic guesses below.
            add(low, nf.latin_tails(cyrillic[0] if cyrillic else key[0], cases_only))
        if role == _FIRST:
            diminutives = nf.rules().diminutives
            cyrillic = cyrillic + [d for c in cyrillic for d in diminutives.get(nf.fold(c), ())]
        if word.kazakh_letters or any(_KAZAKH_LETTERS.search(c) for c in cyrillic):
            # Kazakh letters written the Russian way (Әбдіқадыров = Абдыкадыров)
            cyrillic = cyrillic + [v for c in cyrillic for v in nf.russified_variants(c)]
        for cyr in cyrillic:
            forms = nf.russian_forms(cyr, role, gender)
            add(cyr, nf.kazakh_tails(cyr, cases_only))
            voiced = nf.voiced_stem(cyr)
            if voiced and voiced[1]:
                add(voiced[0], voiced[1] - _BARE)
            for form in forms[1:]:
                add(form, _BARE)
            latin_tails = nf.latin_tails(cyr, cases_only)
            for spelling in nf.latin_variants(cyr):
                add(spelling, latin_tails)
            restored = nf.kazakh_letters_restored(cyr)
            if restored:
                for spelling in nf.latin_variants(restored):
                    if nf.fold(spelling) not in word.keys:
                        add(spelling, latin_tails)
            if role == _SURNAME:
                # Russian case forms written in Latin letters (Ormanovoy, Zavadskuyu): the
                # spellings of the stem they share with the nominative, with the Latin
                # spellings of their endings as the tails.
                for stem, endings in _latin_declined(cyr, tuple(forms[1:]), gender):
                    for spelling in nf.latin_variants(stem):
                        add(spelling, endings)
        for k in word.keys:
            word.initials.add(k[0])
            if len(k) > 1 and k[:2] in ("zh", "kh", "sh", "ch", "ts", "ye", "yu", "ya", "ju", "ja"):
                word.initials.add(k[:2])
        return word.id

    # -- matching

    def find(
        self,
        text: str,
        *,
        hashtags: Sequence[str] = (),
        mentions: Sequence[str] = (),
        links: Sequence[str] = (),
        url: str | None = None,
    ) -> list[Mention]:
        """Every defender mention in a post, deduplicated, in field and text order."""
        found: list[Mention] = []
        if text:
            found.extend(self._names(text, "text"))
            if "@" in text or "/" in text:
                found.extend(self._handles_in_text(text))
        for i, tag in enumerate(hashtags):
            found.extend(self._hashtag(tag, f"hashtags[{i}]"))
        for i, handle in enumerate(mentions):
            found.extend(self._metadata_handle(handle, f"mentions[{i}]"))
        for i, link in enumerate(links):
            found.extend(self._url_handles(link, 0, f"links[{i}]"))
        if url:
            found.extend(self._url_handles(url, 0, "url"))
        return _dedupe(found)

    def _hashtag(self, tag: str, field_name: str) -> list[Mention]:
        bare = tag.lstrip("#")
        offset = len(tag) - len(bare)
        out = []
        for m in self._names("#" + bare, field_name):
            out.append(
                Mention(
                    m.defender_id,
                    m.alias,
                    m.matched_text,
                    m.start - 1 + offset,
                    m.end - 1 + offset,
                    m.field,
                )
            )
        return out

    def _names(self, text: str, field_name: str) -> list[Mention]:
        if not self._words:
            return []
        cased, folded, index = _prepare(text)
        if _MIXED.search(folded):
            folded = _unmix(cased, folded)
        words = self._words
        hits: list[tuple[int, int, int]] = []
        ends: dict[int, list[tuple[int, int]]] = defaultdict(list)
        blocked: list[tuple[int, int]] | None = None
        cues = _lookalikes()
        lookalikes = cues.tails
        n = len(folded)
        tagged = "#" in cased  # only a hashtag glues words together
        weak_hits: set[tuple[int, int, int]] = set()
        for last, (size, payload) in self._automaton.iter(folded):
            start = last - size + 1
            end = last + 1
            if (
                start
                and folded[start - 1].isalpha()
                and not (tagged and _glued_left(cased, folded, start, ends))
            ):
                continue
            tail, tail_end = "", end
            if end < n:
                after = folded[end]
                if after.isalpha():
                    tail_end = _TAIL.match(folded, end).end()
                    tail = folded[end:tail_end]
                elif after in "'-" and end + 1 < n and folded[end + 1].isalpha():
                    tail_end = _TAIL.match(folded, end + 1).end()
                    tail = folded[end:tail_end]
            base_tail, base_end = tail, tail_end
            # A suffix may end in an apostrophe (English plural possessive: the Babaovs'
            # lawyer); _TAIL stops before it, since a closing quote looks the same.
            closing = tail_end < n and folded[tail_end] == "'"
            for word_id, tails in payload:
                if size <= 3 and _short_word_clash(cased, start, end, words[word_id]):
                    continue
                tail, tail_end = base_tail, base_end
                if closing and tail and tail + "'" in tails:
                    tail, tail_end = tail + "'", tail_end + 1
                # мороз, жолдас in lower case are the ordinary words: only next to the
                # defender's first name ("игорь мороз") do they name the defender
                weak = (
                    words[word_id].common
                    and not cased[start].isupper()
                    and not (tagged and _in_hashtag(cased, start))
                )
                if tail in tails:
                    if tail in lookalikes and not _kazakh_context(
                        cased, folded, end, tail_end, cues
                    ):
                        continue
                    span_end = tail_end
                elif "" in tails and (
                    tail[:1] in "'-" or (tagged and _glued_right(cased, folded, end, tail))
                ):
                    span_end = end
                else:
                    # a suffix, then the next word of a hashtag (#ОрманованыҚорғайық)
                    k = _tag_suffix(cased, folded, end, tail, tails) if tagged else 0
                    if not k or (
                        tail[:k] in lookalikes
                        and not _kazakh_context(cased, folded, end, end + k, cues)
                    ):
                        continue
                    span_end = end + k
                if blocked is None:
                    blocked = _non_prose_spans(cased)
                if blocked and any(s < span_end and start < e for s, e in blocked):
                    break
                hits.append((start, span_end, word_id))
                ends[span_end].append((start, word_id))
                if weak:
                    weak_hits.add((start, span_end, word_id))
        if not hits:
            return []
        starts: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for start, end, word_id in hits:
            starts[start].append((end, word_id))
        found: list[Mention] = []
        for start, end, word_id in dict.fromkeys(hits):
            word = words[word_id]
            whole: set[int] = set()
            for alias_id in word.anchor_aliases:
                alias = self._aliases[alias_id]
                span = self._assemble(alias, cased, folded, start, end, starts, ends)
                if span:
                    whole.add(alias.defender)
                    found.append(self._mention(alias, text, index, *span, field_name))
            if weak_hits and (start, end, word_id) in weak_hits:
                continue
            for alias_id in word.single_aliases:
                alias = self._aliases[alias_id]
                # Inside a full name of the same defender, the surname alone adds nothing.
                if alias.defender not in whole and self._alone_ok(alias, cased, folded, start, end):
                    found.append(self._mention(alias, text, index, start, end, field_name))
        return found

    def _mention(
        self,
        alias: _Alias,
        text: str,
        index: list[int] | None,
        start: int,
        end: int,
        field_name: str,
    ) -> Mention:
        if index is not None:
            start, end = index[start], index[end]
        matched = text[start:end]
        return Mention(
            self._defenders[alias.defender].id,
            alias.text_for(matched),
            matched,
            start,
            end,
            field_name,
        )

    # -- several-word aliases

    def _assemble(
        self,
        alias: _Alias,
        cased: str,
        folded: str,
        start: int,
        end: int,
        starts: Mapping[int, list[tuple[int, int]]],
        ends: Mapping[int, list[tuple[int, int]]],
    ) -> tuple[int, int] | None:
        """The span of `alias` around its surname hit at [start, end), or None."""
        others = alias.others
        in_tag = "#" in cased  # whether the name can be inside a hashtag at all
        if len(others) == 1:
            other, role = others[0]
            initials = self._words[other].initials if role == _FIRST else set()
            left = self._before(other, initials, cased, folded, start, ends, in_tag)
            if left is not None:
                return left, end
            right = self._after(other, initials, cased, folded, end, starts, in_tag)
            if right is not None:
                return start, right
            return None
        # Longer aliases: every word, in the configured order or with the surname first.
        seq = [w for w, r in zip(alias.words, alias.roles, strict=True) if r != _PATRONYMIC]
        anchor = seq.index(alias.words[alias.anchor])
        span_start, ok = start, True
        for w in reversed(seq[:anchor]):
            q = _skip_gap_back(cased, span_start, in_tag)
            hit = next((s for s, wid in ends.get(q, ()) if wid == w), None)
            if q is None or hit is None:
                ok = False
                break
            span_start = hit
        span_end = end
        if ok:
            for w in seq[anchor + 1 :]:
                r = _skip_gap(cased, span_end, in_tag)
                hit = next((e for e, wid in starts.get(r, ()) if wid == w), None)
                if r is None or hit is None:
                    ok = False
                    break
                span_end = hit
            if ok:
                return span_start, span_end
        rotated = [seq[anchor], *seq[:anchor], *seq[anchor + 1 :]]
        span_end = end
        for w in rotated[1:]:
            r = _skip_gap(cased, span_end, in_tag)
            hit = next((e for e, wid in starts.get(r, ()) if wid == w), None)
            if r is None or hit is None:
                return None
            span_end = hit
        return start, span_end

    def _before(
        self,
        other: int,
        initials: set[str],
        cased: str,
        folded: str,
        start: int,
        ends: Mapping[int, list[tuple[int, int]]],
        in_tag: bool,
    ) -> int | None:
        """Start of "First [Patronymic] Surname" or "F. [P.] Surname" ending at `start`."""
        q = _skip_gap_back(cased, start, in_tag)
        if not q:
            return None
        for s, wid in ends.get(q, ()):
            if wid == other:
                return s
        if cased[q - 1] == ".":
            m = _INITIALS_BEFORE.search(cased, max(0, q - 12), q)
            if m and initials and _initial_ok(m.group(1), initials):
                return m.start()
            if m:
                # "Yerlan M. Temirkhanov": a middle initial between first name and surname
                q2 = _skip_gap_back(cased, m.start(), in_tag)
                for s, wid in ends.get(q2 or -1, ()):
                    if wid == other:
                        return s
            return None
        if not folded.endswith(_patronymic_endings(), 0, q):
            return None
        token = _TOKEN_BEFORE.search(cased, max(0, q - 40), q)
        if token and _shape(nf.fold(token.group())) == _PATRONYMIC:
            q2 = _skip_gap_back(cased, token.start(), in_tag)
            if q2 is None:
                return None
            for s, wid in ends.get(q2, ()):
                if wid == other:
                    return s
            if initials:
                m = _INITIAL_BEFORE.search(cased, max(0, q2 - 6), q2)
                if m and _initial_ok(m.group(1), initials):
                    return m.start()
        return None

    def _after(
        self,
        other: int,
        initials: set[str],
        cased: str,
        folded: str,
        end: int,
        starts: Mapping[int, list[tuple[int, int]]],
        in_tag: bool,
    ) -> int | None:
        """End of "Surname First [Patronymic]" or "Surname F. [P.]" starting at `end`."""
        r = _skip_gap(cased, end, in_tag)
        if r is None or r >= len(cased) or not cased[r].isalpha():
            return None
        for e, wid in starts.get(r, ()):
            if wid == other:
                token = _TOKEN_AFTER.match(cased, e + 1) if cased[e : e + 1] == " " else None
                if token and _shape(nf.fold(token.group())) == _PATRONYMIC:
                    return token.end()
                return e
        if initials and "." in cased[r + 1 : r + 3]:
            m = _INITIALS_AFTER.match(cased, r)
            if m and _initial_ok(m.group(1), initials):
                return m.end()
        return None

    # -- a surname (or first name) alone

    def _alone_ok(self, alias: _Alias, cased: str, folded: str, start: int, end: int) -> bool:
        """False when the context shows the word names somebody else."""
        info = self._defenders[alias.defender]
        role = alias.roles[0]
        if end - start <= 4 and cased[start].islower() and nf.is_common_word(folded[start:end]):
            # A short surname that is also a common word (Ли, Пак, Хан) counts only with a
            # capital letter: "знаешь ли" is not a mention.
            return False
        if role == _SURNAME:
            before = _neighbour_before(cased, start, any_case=True)
            after = _neighbour_after(cased, end, any_case=True)
            for token in (before, after):
                if token and token[0].isupper() and self._other_person(alias.defender, token):
                    return False
            if before and nf.is_place_word(before):
                return False  # улица Щербакова
            if after and nf.is_place_word(after, after=True):
                return False  # Төлеубай ауылы
            common = self._words[alias.words[0]].common
            if common and nf.in_set_phrase(common, before, after):
                return False  # Дед Мороз, Черноморский флот
            if (
                info.gender == "m"
                and (before or after)
                and folded.endswith(("ова", "ева", "ина", "ына", "ая"), start, end)
                and nf.is_cyrillic(folded[start:end])
            ):
                if before and nf.fold(before) in self._female_titles:
                    return False
                if after and nf.is_feminine_predicate(nf.fold(after)):
                    return False
        elif role == _FIRST:
            token = _neighbour_after(cased, end)
            if token and token[0].isupper():
                f = nf.fold(token)
                if _shape(f) == _SURNAME and f not in info.surname_keys:
                    return False
        return True

    def _other_person(self, defender: int, token: str) -> bool:
        """Is `token`, next to the defender's surname, somebody else's first name or initial?"""
        key = (defender, token)
        verdict = self._other_cache.get(key)
        if verdict is None:
            if len(self._other_cache) > 200_000:
                self._other_cache.clear()
            verdict = self._other_cache[key] = self._is_other_person(
                self._defenders[defender], token
            )
        return verdict

    def _is_other_person(self, info: _DefenderInfo, token: str) -> bool:
        m = _INITIALS_TOKEN.fullmatch(token)
        if m:
            if nf.fold(m.group(1)) in self._titles:
                return False
            return bool(info.first_initials) and not _initial_ok(m.group(1), info.first_initials)
        f = nf.fold(token)
        if f in info.first_keys or f in info.surname_keys or _shape(f) == _PATRONYMIC:
            return False
        if f in self._first_name_keys:
            return True
        return nf.is_cyrillic(f) and nf.is_known_first_name(f)

    # -- handles

    def _handles_in_text(self, text: str) -> list[Mention]:
        out: list[Mention] = []
        for m in _AT_HANDLE.finditer(text):
            handle = m.group(1).rstrip(".-")
            for d, _platform, configured in self._handles.get(handle.lower(), ()):
                out.append(
                    Mention(
                        self._defenders[d].id,
                        configured,
                        text[m.start() : m.start(1) + len(handle)],
                        m.start(),
                        m.start(1) + len(handle),
                        "text",
                    )
                )
        for m in _url_regex().finditer(text):
            out.extend(self._url_handles(m.group(), m.start(), "text", text))
        return out

    def _metadata_handle(self, handle: str, field_name: str) -> list[Mention]:
        bare = handle.strip()
        lead = len(handle) - len(handle.lstrip())
        at = len(bare) - len(bare.lstrip("@"))
        key = bare.lstrip("@").lower()
        return [
            Mention(
                self._defenders[d].id,
                configured,
                handle[lead + at : lead + len(bare)],
                lead + at,
                lead + len(bare),
                field_name,
            )
            for d, _p, configured in self._handles.get(key, ())
        ]

    def _url_handles(
        self, url: str, offset: int, field_name: str, whole: str | None = None
    ) -> list[Mention]:
        source = whole if whole is not None else url
        out: list[Mention] = []
        for pos, length, platform, handle in _profile_handles(url):
            for d, configured_platform, configured in self._handles.get(handle, ()):
                if platform is not None and not _same_platform(platform, configured_platform):
                    continue
                start = offset + pos
                out.append(
                    Mention(
                        self._defenders[d].id,
                        configured,
                        source[start : start + length],
                        start,
                        start + length,
                        field_name,
                    )
                )
        return out


_BARE = frozenset({""})

# --- per-post helpers --------------------------------------------------------------------

_LETTERS = re.compile(r"[^\W\d_]*")
# The rest of a word after a name: letters, with apostrophes inside (2017 Kazakh Latin: g'a).
_TAIL = re.compile(r"[^\W\d_]*(?:'[^\W\d_]+)*")
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060\ufeff]")
_INITIALS_BEFORE = re.compile(r"(?<![^\W\d_])([^\W\d_]{1,2})\.(?:\s?[^\W\d_]{1,2}\.)?$")
_INITIAL_BEFORE = re.compile(r"(?<![^\W\d_])([^\W\d_]{1,2})\.$")
_INITIALS_AFTER = re.compile(r"([^\W\d_]{1,2})\.(?:\s?[^\W\d_]{1,2}\.)?(?![^\W\d_])")
_INITIALS_TOKEN = re.compile(r"([^\W\d_]{1,2})\.(?:\s?[^\W\d_]{1,2}\.)?")
_TOKEN_BEFORE = re.compile(r"(?<![^\W\d_])[^\W\d_]+$")
_TOKEN_AFTER = re.compile(r"[^\W\d_]+")
_NEIGHBOUR_BEFORE = re.compile(r"(?:(?<=\s)|^)(\S+)$")
_NEIGHBOUR_AFTER = re.compile(r"\S+")
_AT_HANDLE = re.compile(
    r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_.\-]*(?:@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+)?)"
)
_NON_PROSE = re.compile(
    r"https?://\S+|www\.\S+|[\w.+\-]*@[\w.\-@]+|(?<![\w.])[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,}/\S*",
    re.IGNORECASE,
)
_TRAILING = ".,;:!?)]}»\"'…"


def _prepare(text: str) -> tuple[str, str, list[int] | None]:
    """The cased and folded scan strings and, when they differ in length from `text`, the
    map from their offsets back to `text` (decomposed accents, invisible characters)."""
    if text.isascii() or (unicodedata.is_normalized("NFC", text) and not _INVISIBLE.search(text)):
        return text, nf.fold(text), None
    chars: list[str] = []
    index: list[int] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        cluster = text[i:j]
        if not _INVISIBLE.fullmatch(cluster):
            for c in unicodedata.normalize("NFC", cluster):
                chars.append(c)
                index.append(i)
        i = j
    index.append(len(text))
    cased = "".join(chars)
    return cased, nf.fold(cased), index


_KAZAKH_LETTERS = re.compile("[әғқңөұүһіӘҒҚҢӨҰҮҺІ]")


def _short_word_clash(cased: str, start: int, end: int, word: _Word) -> bool:
    """A short name written with a Kazakh letter it does not have is a Kazakh word: folding
    makes кім ("who") look like the surname Ким, which long names never risk."""
    return not word.kazakh_letters and _KAZAKH_LETTERS.search(cased, start, end) is not None


_MIXED = re.compile(r"[а-яё][a-z]|[a-z][а-яё]")
_WORD = re.compile(r"[^\W\d_]+")


def _unmix(cased: str, folded: str) -> str:
    """Read Latin look-alike letters as Cyrillic inside words that mix the two scripts."""
    glyphs = nf.rules().homoglyphs
    chars = list(folded)
    for m in _WORD.finditer(folded):
        word = m.group()
        if nf.is_cyrillic(word) and not word.isascii() and any("a" <= c <= "z" for c in word):
            for i in range(m.start(), m.end()):
                c = cased[i]
                if c.isascii():
                    chars[i] = glyphs.get(c, glyphs.get(c.lower(), chars[i]))
    return "".join(chars)


def _non_prose_spans(cased: str) -> list[tuple[int, int]]:
    """Links, @handles and e-mail addresses: a name inside them is not a mention of it."""
    if "@" not in cased and "/" not in cased and "www" not in cased:
        return []
    return [m.span() for m in _NON_PROSE.finditer(cased)]


@dataclass(frozen=True)
class _KazakhCues:
    """What tells a Kazakh suffix from a look-alike Russian ending (kazakh_suffixes.toml)."""

    tails: frozenset[str]
    suffix_letters: re.Pattern[str]
    post_letters: re.Pattern[str]
    post_words: re.Pattern[str] | None


@cache
def _lookalikes() -> _KazakhCues:
    section = nf.rules().kazakh.get("russian_lookalikes", {})

    def letters(chars: str) -> re.Pattern[str]:
        upper = "".join(u for u in chars.upper() if not u.isascii())
        return re.compile("[" + (re.escape(chars + upper) or "\uffff") + "]")

    words = "|".join(re.escape(nf.fold(w)) for w in section.get("post_words", ()))
    return _KazakhCues(
        tails=frozenset(nf.fold(t) for t in section.get("tails", ())),
        suffix_letters=letters(section.get("suffix_letters", "")),
        post_letters=letters(section.get("post_letters", "")),
        post_words=re.compile(rf"(?<![^\W\d_])(?:{words})(?![^\W\d_])") if words else None,
    )


def _kazakh_context(cased: str, folded: str, end: int, tail_end: int, cues: _KazakhCues) -> bool:
    """Is a suffix that also spells a Russian ending (Исаев+ка) meant as Kazakh here?"""
    return (
        cues.suffix_letters.search(cased, end, tail_end) is not None
        or cues.post_letters.search(cased) is not None
        or (cues.post_words is not None and cues.post_words.search(folded) is not None)
    )


def _in_hashtag(cased: str, pos: int) -> bool:
    k = pos - 1
    while k >= 0 and (cased[k].isalnum() or cased[k] == "_"):
        k -= 1
    return k >= 0 and cased[k] == "#"


def _glued_left(
    cased: str, folded: str, start: int, ends: Mapping[int, list[tuple[int, int]]]
) -> bool:
    """Inside a hashtag, may a word start at `start` although a letter precedes it?"""
    if not _in_hashtag(cased, start):
        return False
    if cased[start].isupper() and cased[start - 1].islower():
        return True
    if start in ends:
        return True
    k = start - 1
    while k >= 0 and folded[k].isalpha():
        k -= 1
    prefix = folded[k + 1 : start]
    return prefix in nf.rules().hashtag_words or nf.is_dictionary_word(prefix)


def _glued_right(cased: str, folded: str, end: int, tail: str) -> bool:
    """Inside a hashtag, may a word end at `end` although letters follow it?"""
    if not _in_hashtag(cased, end):
        return False
    if cased[end].isupper() and cased[end - 1].islower():
        return True
    return tail in nf.rules().hashtag_words or nf.is_dictionary_word(tail)


def _tag_suffix(cased: str, folded: str, end: int, tail: str, tails: frozenset[str]) -> int:
    """Inside a hashtag, the length of a suffix from `tails` that starts `tail` and is followed
    by the next word of the compound: a capital (#ОрманованыҚорғайық) or, in a lower-case tag,
    a known word (#жұмабековтыңөтірігі). 0 when there is none."""
    if not _in_hashtag(cased, end):
        return 0
    words = nf.rules().hashtag_words
    for k in range(len(tail) - 1, 0, -1):
        if tail[:k] not in tails:
            continue
        nxt = end + k
        if cased[nxt].isupper() and cased[nxt - 1].islower():
            return k
        rest = tail[k:]
        if rest in words or nf.is_dictionary_word(rest):
            return k
    return 0


def _skip_gap_back(cased: str, pos: int, in_tag: bool) -> int | None:
    """Where the previous word of a name ends: only spaces between (or a hashtag join, or an
    initial glued to the surname: "Н.Жумабеков")."""
    q = pos
    while q > 0 and cased[q - 1] in " \u00a0\t":
        q -= 1
    if q < pos or (q > 0 and cased[q - 1] == "."):
        return q
    if in_tag and _in_hashtag(cased, pos):
        return pos - 1 if pos > 0 and cased[pos - 1] == "_" else pos
    return None


def _skip_gap(cased: str, pos: int, in_tag: bool) -> int | None:
    r = pos
    while r < len(cased) and cased[r] in " \u00a0\t":
        r += 1
    if r > pos:
        return r
    if in_tag and _in_hashtag(cased, pos):
        return pos + 1 if pos < len(cased) and cased[pos] == "_" else pos
    return None


def _initial_ok(letters: str, initials: set[str]) -> bool:
    return letters[0].isupper() and nf.fold(letters) in initials


def _neighbour_before(cased: str, start: int, any_case: bool = False) -> str | None:
    q = start
    while q > 0 and cased[q - 1] in " \u00a0\t":
        q -= 1
    if q == 0 or (q == start and cased[q - 1] != "."):
        return None
    m = _NEIGHBOUR_BEFORE.search(cased, max(0, q - 40), q)
    if not m:
        return None
    token = m.group(1)
    if _INITIALS_TOKEN.fullmatch(token):
        # "А. С. Орманова": the first-name initial is the token before "С."
        m2 = _NEIGHBOUR_BEFORE.search(cased, max(0, m.start() - 8), max(0, m.start() - 1))
        if m2 and _INITIALS_TOKEN.fullmatch(m2.group(1)) and m.start() > 0:
            token = m2.group(1) + token
        return token
    return token if token.isalpha() and (any_case or token[0].isupper()) else None


def _neighbour_after(cased: str, end: int, any_case: bool = False) -> str | None:
    if end >= len(cased) or cased[end] not in " \u00a0\t":
        return None
    r = end
    while r < len(cased) and cased[r] in " \u00a0\t":
        r += 1
    m = _NEIGHBOUR_AFTER.match(cased, r)
    if not m:
        return None
    token = m.group()
    if _INITIALS_TOKEN.match(token):
        return _INITIALS_TOKEN.match(token).group()
    token = token.rstrip(_TRAILING)
    return token if token.isalpha() and (any_case or token[:1].isupper()) else None


@cache
def _url_regex() -> re.Pattern[str]:
    """Profile links in running text, built from the hosts in profile_urls.toml."""
    hosts = {
        p.split("/", 1)[0]
        for prefixes in nf.rules().profile_prefixes.values()
        for p in prefixes
        if not p.startswith("{")
    }
    alternatives = "|".join(re.escape(h) for h in sorted(hosts, key=len, reverse=True))
    return re.compile(
        rf"(?:https?://)?(?:www\.|m\.)?(?:(?:{alternatives})/|[a-z0-9\-]+(?:\.[a-z0-9\-]+)+/@)"
        r"[^\s<>\"«»]*",
        re.IGNORECASE,
    )


@cache
def _latin_declined(
    nominative: str, forms: tuple[str, ...], gender: str
) -> tuple[tuple[str, frozenset[str]], ...]:
    """(Cyrillic stem, folded Latin endings) of the Russian case forms of a surname: Орманова
    -> ("орманов", {"oy", "oi", "u", ...}). Not a man's genitive in -a, which spells his
    female relative's name (Sharipova): in Latin script that is almost always the woman, and
    English has no cue to tell them apart."""
    by_stem: dict[str, set[str]] = defaultdict(set)
    for form in forms:
        if gender != "f" and form.endswith(("а", "ая")):
            continue
        k = 0
        while k < min(len(nominative), len(form)) and nominative[k] == form[k]:
            k += 1
        if k < len(form) and k >= 2:
            ending = form[k:]
            by_stem[form[:k]].update(
                nf.latin_variants(ending, word_initial=False, cap=_DECLINED_ENDINGS)
            )
    return tuple((stem, frozenset(endings)) for stem, endings in by_stem.items())


_DECLINED_ENDINGS = 6


@cache
def _first_name_part_keys(name: str) -> frozenset[str]:
    """Folded spellings of the parts of a hyphenated first name (Анна-Мария: Анна, Мария)."""
    keys: set[str] = set()
    for part in name.lower().split("-"):
        for cyr in _cyrillic_of(part) if part else ():
            keys.update(nf.fold(f) for f in nf.russian_forms(cyr, _FIRST, "u"))
            keys.update(nf.latin_variants(cyr, cap=32))
        keys.add(nf.fold(part))
    return frozenset(keys)


def _first_name_keys() -> frozenset[str]:
    return _FIRST_NAME_KEYS_CACHE.get()


class _FirstNameKeys:
    """Folded spellings (case forms, Latin) of the common first names in first_names.csv."""

    def __init__(self) -> None:
        self._value: frozenset[str] | None = None

    def get(self) -> frozenset[str]:
        if self._value is None:
            keys: set[str] = set()
            for name, gender in nf.rules().first_names.items():
                low = name.lower()
                if not nf.is_cyrillic(low):
                    keys.add(nf.fold(low))
                    continue
                keys.update(nf.fold(f) for f in nf.russian_forms(low, _FIRST, gender))
                keys.update(nf.latin_variants(low, cap=32))
            self._value = frozenset(keys)
        return self._value


_FIRST_NAME_KEYS_CACHE = _FirstNameKeys()


def _profile_handles(url: str) -> list[tuple[int, int, str | None, str]]:
    """(offset, length, platform, folded handle) of the profile handles a link points at."""
    m = re.match(r"(?:[a-z][a-z0-9+.\-]*://)?(?:www\.|m\.|mobile\.)?", url, re.IGNORECASE)
    base = m.end() if m else 0
    rest = url[base:]
    low = rest.lower()
    out: list[tuple[int, int, str | None, str]] = []
    host, _, path = low.partition("/")
    for platform, prefixes in nf.rules().profile_prefixes.items():
        for prefix in prefixes:
            if prefix.startswith("{instance}"):
                if path.startswith("@"):
                    user = re.match(r"[a-z0-9_.\-]+", path[1:])
                    if user:
                        name = user.group().rstrip(".-")
                        pos = base + len(host) + 2
                        out.append((pos, len(name), platform, f"{name}@{host}"))
                continue
            if low.startswith(prefix):
                seg = re.match(r"[a-z0-9_.\-]+", low[len(prefix) :])
                if seg:
                    handle = seg.group().rstrip(".-")
                    nxt = low[len(prefix) + len(handle) : len(prefix) + len(handle) + 1]
                    if not nxt or not (nxt.isalnum() or nxt in "_"):
                        out.append((base + len(prefix), len(handle), platform, handle))
    return list(dict.fromkeys(out))


def _same_platform(found: str, configured: str) -> bool:
    aliases = {"x": "twitter"}
    return aliases.get(found, found) == aliases.get(configured, configured)


def _dedupe(mentions: list[Mention]) -> list[Mention]:
    """One mention per defender and span; a span inside a longer one of the same defender in
    the same field (the surname inside "Бахыт Орманова") is dropped. Output is in field order,
    then text order."""
    if len(mentions) < 2:
        return mentions
    owners = {(m.defender_id, m.field) for m in mentions}
    if len(owners) == len(mentions):
        return sorted(mentions, key=_output_order)
    by_owner: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for m in mentions:
        by_owner[(m.defender_id, m.field)].append(m)
    kept: list[Mention] = []
    for group in by_owner.values():
        if len(group) == 1:
            kept.append(group[0])
            continue
        # longest span first; for one span, the alias in the script of the text, then the
        # longest alias
        group.sort(
            key=lambda m: (
                m.start - m.end,
                nf.is_cyrillic(m.alias) != nf.is_cyrillic(m.matched_text),
                -len(m.alias),
            )
        )
        chosen: list[Mention] = []
        for m in group:
            if not any(k.start <= m.start and m.end <= k.end for k in chosen):
                chosen.append(m)
        kept.extend(chosen)
    kept.sort(key=_output_order)
    return kept


def _output_order(m: Mention) -> tuple[tuple[int, int], int, int, str]:
    return _field_order(m.field), m.start, m.end, m.defender_id


@cache
def _field_order(name: str) -> tuple[int, int]:
    head, _, rest = name.partition("[")
    order = {"text": 0, "hashtags": 1, "mentions": 2, "links": 3, "url": 4}.get(head, 5)
    return order, int(rest.rstrip("]")) if rest else 0
