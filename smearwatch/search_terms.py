"""Search queries and hashtags for the defenders, made from the mention matcher's own name forms.

Why: platform search matches whole index tokens and does not stem Russian or Kazakh.

* Bluesky's post index (bluesky-social/indigo `search/post_schema.json`) analyses text with
  `icu_tokenizer` + `icu_normalizer` + `icu_folding`: words split by Unicode word rules, case
  and diacritics folded (ё = е, й = и, ä = a, and Kazakh ғ = г, қ = к, ң = н, ұ = ү), no
  stemmer. Queries are strict AND (every word must occur; `OR` is not an operator: it
  becomes one more word that must occur) and accept "quoted phrases". A query for "Орманова"
  finds neither "Ормановой" nor "Ормановаға", so every inflected form is a query of its own.
* Mastodon's status index (mastodon/mastodon `app/chewy/public_statuses_index.rb`) matches a
  word against `text` (split on whitespace and URLs, lower-cased) and `text.stemmed`
  (`standard` tokenizer, `lowercase`, `asciifolding`, `english_stop`, `english_stemmer`,
  `english_possessive_stemmer`): only English is stemmed, Latin diacritics fold, Cyrillic
  letters do not (ё, і, ә stay). Status search needs a user token and only finds posts of
  authors who opted in (`indexable`) or that the token's account interacted with; hashtag
  timelines are public and match the tag name exactly (case-insensitively), never a
  declined form.

What: for each defender, candidate spellings in priority tiers

    0  handles (Bluesky: `mentions:<handle>`, which matches the post's mention facets)
    1  every configured alias word in its nominative, as configured (Cyrillic and Latin)
    2  Russian case forms (Ормановой, Орманову; Глебу Кондратьеву)
    3  Kazakh case suffixes with the word's regular vowel harmony (Ормановаға, Ормановамен)
    4  Latin spellings of tiers 1-3: the common transliteration, the 2021 Kazakh alphabet
       (Ömırzaqovağa) and the configured Latin spelling with declined endings (Kassymovoy,
       Kassymovaga), and the English possessive (Ormanova's)
    5  the rest: the other vowel harmony, Kazakh letters typed on a Russian keyboard
       (Жумабековтин), russified Kazakh names (Абдыкадыров), plural and possessive chains
       (Ормановасы), the 2017 alphabet

Every candidate is shown to the `MentionMatcher`; one it would not count as a mention of that
defender is dropped, so what is searched and what is matched agree. Candidates are then
deduplicated under the platform's own folding (spellings the index folds to one token are one
query). The list is ordered by tier and round-robin across defenders, so a collector that keeps
only the head of the list (its request budget) drops everybody's rarest forms first.

A name written into a longer hashtag (#ОрмановаПредатель) is one token to both indexes and no
query reaches it; the Jetstream/firehose route or a watched author's feed is the way to see it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from analysis import _name_forms as nf
from analysis.mentions import Defender, MentionMatcher, read_aliases
from collector.base import SearchTerms

__all__ = [
    "Candidate",
    "bluesky_key",
    "candidates",
    "mastodon_hashtags",
    "mastodon_key",
    "search_terms_provider",
    "terms_for",
]

_SURNAME, _FIRST, _PATRONYMIC = "surname", "first_name", "patronymic"
_KAZAKH_LETTERS = re.compile("[әғқңөұүһі]")

#: Mastodon search is expensive for the instance and finds only opted-in authors: keep the
#: highest-priority forms of each defender (nominatives, Russian and Kazakh cases).
MASTODON_QUERIES_PER_DEFENDER = 12
MASTODON_MAX_TIER = 3

# The 2021 Kazakh Latin alphabet, letter for letter (ş, ç, ğ, ñ, ö, ū, ü, ı, ä); the indexes
# fold the diacritics away, the matcher folds them the same way.
_KAZAKH_2021 = {
    "а": "a", "ә": "ä", "б": "b", "в": "v", "г": "g", "ғ": "ğ", "д": "d", "е": "e",
    "ё": "io", "ж": "j", "з": "z", "и": "i", "й": "i", "к": "k", "қ": "q", "л": "l",
    "м": "m", "н": "n", "ң": "ñ", "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ұ": "ū", "ү": "ü", "ф": "f", "х": "h", "һ": "h", "ц": "ts",
    "ч": "ç", "ш": "ş", "щ": "şş", "ъ": "", "ы": "y", "і": "ı", "ь": "", "э": "e",
    "ю": "iu", "я": "ia",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Candidate:
    """One search query for one defender; `words` are what must all occur (AND)."""

    defender_id: str
    tier: int
    words: tuple[str, ...]
    handle: str | None = None

    @property
    def text(self) -> str:
        return " ".join(self.words)


# -- the platforms' folding -------------------------------------------------------------------

# UTR#30 folds that are not diacritic removal (Lucene's utr30 DiacriticFolding data): Cyrillic
# letters with a descender or stroke, and Latin letters without a decomposition.
_ICU_EXTRA = str.maketrans(
    {
        "ғ": "г", "ҕ": "г", "қ": "к", "ҝ": "к", "ҟ": "к", "ң": "н", "ұ": "ү", "ҳ": "х",
        "ҷ": "ч", "ҫ": "с", "ҭ": "т", "ӄ": "к", "ӈ": "н", "ı": "i", "ł": "l", "ø": "o",
        "đ": "d", "ħ": "h", "æ": "ae", "œ": "oe", "’": "'", "ʼ": "'",
    }
)  # fmt: skip
_WORD = re.compile(r"[^\W_]+(?:['.][^\W_]+)*")


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def bluesky_key(text: str) -> tuple[str, ...]:
    """The tokens Bluesky's index makes of a query (case, diacritics and ғ/қ/ң/ұ folded),
    sorted, since AND does not care about order: two queries with one key find the same."""
    folded = _strip_marks(unicodedata.normalize("NFKC", text).casefold()).translate(_ICU_EXTRA)
    return tuple(sorted(set(_WORD.findall(folded))))


def _latin_fold(word: str) -> str:
    """`asciifolding`: diacritics off Latin letters only; Cyrillic ё and й stay as they are."""
    return "".join(_strip_marks(c) if c.isascii() or "LATIN" in unicodedata.name(c, "") else c
                   for c in word)  # fmt: skip


def mastodon_key(text: str) -> tuple[str, ...]:
    """What Mastodon's index matches: lower case, Latin diacritics folded, the English
    possessive stemmed away; Cyrillic letters kept as they are."""
    words = []
    for word in _WORD.findall(text.lower().replace("’", "'")):
        word = _latin_fold(word)
        words.append(re.sub(r"'s?$", "", word))
    return tuple(sorted(set(words)))


# -- forms of one word ------------------------------------------------------------------------


def _case_suffixes(word: str, harmony: int) -> list[str]:
    """Kazakh case suffixes for `word` in table order (genitive, accusative, dative, ...); a
    name that ends in a third-person possessive (Серікқызы, Бекұлы) takes the cases that follow
    a possessive (Серікқызына) first."""
    kz = nf.rules().kazakh
    out: list[str] = []
    if word.endswith(("қызы", "кызы", "ұлы", "улы")):
        out += [
            forms[harmony] for forms in kz.get("after_possessive", {}).get("third", {}).values()
        ]
    for table in kz["cases"].values():
        out.extend(nf._suffix(table, word[-1], harmony))
    return nf.unique(out)


def _other_chains(word: str, harmony: int) -> list[str]:
    """The plural and third-person possessive chains that follow a name in practice
    (Ормановалар, Ормановасы, Ормановасының, Ормановалары), in that order. The other
    possessives (my, your Орманова) are left to the matcher: too rare to spend queries on."""
    kz = nf.rules().kazakh
    third = kz["possessive"]["third"]
    after = kz.get("after_possessive", {}).get("third", {})
    out: list[str] = []
    plurals = nf._suffix(kz["plural"], word[-1], harmony)
    out += plurals
    for possessive in nf._suffix(third, word[-1], harmony):
        out.append(possessive)
        out += [possessive + forms[harmony] for forms in after.values()]
    for plural in plurals:
        out += [plural + x for x in nf._suffix(third, plural[-1], harmony)]
    return nf.unique(out)


def _kazakh_2021(word: str) -> str:
    return "".join(_KAZAKH_2021.get(c, c) for c in word)


def _latin_spellings(cyrillic: str, *, full: bool) -> list[str]:
    """The common transliteration and the 2021 Kazakh spelling; with `full` also the second
    most common transliteration and the 2017 spelling."""
    variants = nf.latin_variants(cyrillic)
    out = [variants[0]] if variants else []
    out.append(_kazakh_2021(cyrillic))
    if full:
        out += variants[1:2]
        out.append(nf.kazakh_2017_spelling(cyrillic))
    return nf.unique(out)


def _latin_ending(cyrillic_tail: str) -> list[str]:
    if not cyrillic_tail:
        return [""]
    return nf.unique(
        [*nf.latin_variants(cyrillic_tail, word_initial=False)[:2], _kazakh_2021(cyrillic_tail)]
    )


def _configured_latin(latin: str, nominative: str, form: str) -> list[str]:
    """A configured Latin spelling given the ending of a Cyrillic form: Kassymova with
    Қасымовой → Kassymovoy."""
    k = 0
    while k < min(len(nominative), len(form)) and nominative[k] == form[k]:
        k += 1
    low = latin.lower()
    for tail in _latin_ending(nominative[k:]):
        if low.endswith(tail):
            stem = latin[: len(latin) - len(tail)] if tail else latin
            return [stem + ending for ending in _latin_ending(form[k:])]
    return []


def _word_forms(word: str, role: str, gender: str) -> list[tuple[int, str]]:
    """(tier, spelling) of one alias word, best first within each tier."""
    out: list[tuple[int, str]] = [(1, word)]
    latin_configured = None if nf.is_cyrillic(word) else word
    low = word.lower()
    cyrillic = low if nf.is_cyrillic(low) else (nf.cyrillic_candidates(low)[:1] or [None])[0]
    if cyrillic is None:
        return out
    forms = nf.russian_forms(cyrillic, role, gender)
    russian = forms[1:]
    harmony = nf.last_vowel_harmony(cyrillic)
    kazakh = [cyrillic + s for h in harmony for s in _case_suffixes(cyrillic, h)]
    other_harmony = [
        cyrillic + s for h in {0, 1} - set(harmony) for s in _case_suffixes(cyrillic, h)
    ]
    chains = [cyrillic + c for h in harmony for c in _other_chains(cyrillic, h)]
    voiced = nf.voiced_stem(cyrillic)
    if voiced:
        chains += [voiced[0] + c for h in harmony for c in _other_chains(cyrillic, h)
                   if c[:1] in "аәеиоөұүыіэюя"]  # fmt: skip
    # Russian-language posts write Kazakh names with Russian letters: Әлімжанова is mostly
    # Алимжанова there, and Абдыкадыров as often as Абдикадыров.
    typed = nf.fold(cyrillic)
    russified = nf.russified_variants(cyrillic) if nf.is_cyrillic(low) else []
    out.append((1, typed))
    out += [(2, f) for f in russian]
    out += [(2, nf.fold(f)) for f in russian]
    for variant in russified[:2]:
        out += [(2, nf.fold(f)) for f in nf.russian_forms(variant, role, gender)]
    out += [(3, f) for f in kazakh]
    if nf.is_cyrillic(low) and "и" in cyrillic and not _KAZAKH_LETTERS.search(cyrillic):
        # A Kazakh name configured in Russian spelling is written with і in Kazakh posts
        # (Темирханов: Темірхановтың), which Bluesky does not fold into и.
        kazakh_spelled = cyrillic.replace("и", "і")
        out.append((3, kazakh_spelled))
        out += [(3, kazakh_spelled + s) for h in harmony for s in _case_suffixes(cyrillic, h)]
    latin_sources = [cyrillic, *russian, *kazakh]
    for form in latin_sources:
        if latin_configured:
            out += [(4, s) for s in _configured_latin(latin_configured, cyrillic, form)]
        out += [(4, s) for s in _latin_spellings(form, full=False)]
    possessive = nf.rules().kazakh.get("english", {}).get("possessive", ["'s"])[0]
    for source in [word] if latin_configured else _latin_spellings(cyrillic, full=False)[:1]:
        out.append((4, source + possessive))
    out.append((4, nf.kazakh_2017_spelling(cyrillic)))  # O'mirzaqova
    out += [(5, f) for f in [*other_harmony, *chains]]
    for h in harmony:  # plural with a case: Ормановаларға, Темирхановтардың
        for plural in nf._suffix(nf.rules().kazakh["plural"], cyrillic[-1], h):
            out += [(5, cyrillic + plural + s) for s in _case_suffixes(cyrillic + plural, h)]
    latin_stem = latin_configured or (_latin_spellings(cyrillic, full=False) or [None])[0]
    if latin_stem:
        # a suffix set off by an apostrophe is one word to the index: Kesler'ge, Ormanova'nyñ
        for h in harmony:
            for suffix in _case_suffixes(cyrillic, h):
                out += [(5, f"{latin_stem}'{e}") for e in _latin_ending(suffix)[:1]]
        if latin_configured:
            common = _latin_spellings(cyrillic, full=False)[:1]
            out += [(5, c + possessive) for c in common]  # Isaev's besides Issayev's
    out += [(5, nf.fold(f)) for f in [*kazakh, *other_harmony]]
    for variant in russified[2:]:
        out += [(5, nf.fold(f)) for f in nf.russian_forms(variant, role, gender)]
    for form in [*other_harmony, *chains]:
        out += [(5, s) for s in _latin_spellings(form, full=False)]
    for form in latin_sources:
        out += [(5, s) for s in _latin_spellings(form, full=True)[2:]]
    return out


# -- all defenders ----------------------------------------------------------------------------


def candidates(defenders: Sequence[Defender], matcher: MentionMatcher) -> list[Candidate]:
    """Every defender's candidate queries that the matcher accepts, unordered across people."""
    out: list[Candidate] = []
    for d in defenders:
        for platform, handles in dict(d.handles).items():
            for handle in (handles,) if isinstance(handles, str) else handles:
                handle = handle.strip().lstrip("@")
                if handle:
                    out.append(Candidate(d.id, 0, (), handle=f"{platform}:{handle}"))
        reading = read_aliases(d)
        singles = {_word_key(a.words[0]) for a in reading.aliases if len(a.words) == 1}
        best: dict[tuple[str, ...], tuple[int, int, tuple[str, ...]]] = {}
        for alias in reading.aliases:
            if len(alias.words) == 1:
                word = alias.words[0]
                pairs = [(tier, (_cased(word, form),)) for tier, form in
                         _word_forms(word, alias.roles[0], reading.gender)]  # fmt: skip
            else:
                pairs = _alias_pairs(alias.words, alias.roles, reading.gender, singles)
            for tier, words in pairs:
                # one spelling reached from several aliases keeps its best tier
                key = tuple(w.lower() for w in words)
                if key not in best or tier < best[key][0]:
                    best[key] = (tier, best[key][1] if key in best else len(best), words)
        for tier, _, words in sorted(best.values(), key=lambda v: (v[0], v[1])):
            if _is_mention(matcher, d.id, " ".join(words)):
                out.append(Candidate(d.id, tier, words))
    return out


def _is_mention(matcher: MentionMatcher, defender_id: str, text: str) -> bool:
    """Would the matcher count `text` as this defender, alone or in a Kazakh sentence? Some
    suffixes (Кондратьевке, typed without қ) count only where the post looks Kazakh, and a
    query is a word, not a post: what the search fetches is matched in its own context."""
    for probe in (text, f"{text} туралы"):
        if any(m.defender_id == defender_id for m in matcher.find(probe)):
            return True
    return False


def _alias_pairs(
    words: Sequence[str], roles: Sequence[str], gender: str, singles: set[str]
) -> list[tuple[int, tuple[str, ...]]]:
    """A several-word alias whose surname is not also an alias on its own: the first name and
    the surname in the same case (Ольге Белозерской), searched as AND (either order, with a
    patronymic between)."""
    if _SURNAME not in roles or _FIRST not in roles:
        return []
    s, f = roles.index(_SURNAME), roles.index(_FIRST)
    if _word_key(words[s]) in singles:
        return []  # the surname's own queries already find every post with the full name
    out: list[tuple[int, tuple[str, ...]]] = []
    for tier, form in _word_forms(words[s], _SURNAME, gender):
        firsts = [words[f]]
        if tier == 2 and nf.is_cyrillic(form):
            firsts = _first_name_in_case(words[f], _cases_of(form, gender), gender) + firsts
        out += [
            (tier, (first, _cased(words[s], form)))
            for first in nf.unique(firsts)
            if nf.is_cyrillic(first) == nf.is_cyrillic(form)  # no "Nina Гусевой"
        ]
    return out


def _word_key(word: str) -> str:
    """A word's folded Cyrillic spelling, so that Belozerskaya and Белозерская are one word."""
    low = word.lower()
    if nf.is_cyrillic(low):
        return nf.fold(low)
    guesses = nf.cyrillic_candidates(low)
    return nf.fold(guesses[0]) if guesses else low


_GENDERS = {"m": "masc", "f": "femn"}


def _cases_of(form: str, gender: str) -> set[str]:
    """The grammatical cases a declined surname form can stand in (pymorphy3's reading)."""
    wanted = _GENDERS.get(gender)
    return {
        str(p.tag.case)
        for p in nf.morph_parse(form.lower())
        if p.tag.number == "sing"
        and p.tag.case
        and p.tag.case != "nomn"
        and (wanted is None or p.tag.gender == wanted)
    }


def _first_name_in_case(first: str, cases: set[str], gender: str) -> list[str]:
    low = first.lower()
    wanted = _GENDERS.get(gender)
    for p in nf.morph_parse(low):
        if "Name" in p.tag and p.tag.case == "nomn" and (wanted is None or p.tag.gender == wanted):
            forms = [p.inflect({case}) for case in sorted(cases)]
            return nf.unique(_cased(first, x.word) for x in forms if x is not None)
    return []


def _cased(template: str, form: str) -> str:
    """`form` capitalised like the configured word it comes from."""
    return form[:1].upper() + form[1:] if template[:1].isupper() else form


def _round_robin(items: list[Candidate]) -> list[Candidate]:
    """Order by tier, then take the defenders in turn within each tier."""
    out: list[Candidate] = []
    for tier in sorted({c.tier for c in items}):
        queues: dict[str, list[Candidate]] = {}
        for c in items:
            if c.tier == tier:
                queues.setdefault(c.defender_id, []).append(c)
        lists = list(queues.values())
        for i in range(max((len(q) for q in lists), default=0)):
            out.extend(q[i] for q in lists if i < len(q))
    return out


def _quoted(words: Iterable[str]) -> str:
    """Words that the index would split (Анна-Мария) are sent as a phrase."""
    return " ".join(f'"{w}"' if re.search(r"[\s\-]", w) else w for w in words)


def bluesky_queries(cands: Sequence[Candidate]) -> tuple[str, ...]:
    queries: dict[tuple[str, ...], str] = {}
    for c in _round_robin(list(cands)):
        if c.handle is not None:
            platform, _, handle = c.handle.partition(":")
            if platform == "bluesky":
                queries.setdefault(("mentions:" + handle.lower(),), f"mentions:{handle}")
            continue
        queries.setdefault(bluesky_key(c.text), _quoted(c.words))
    return tuple(queries.values())


def mastodon_queries(cands: Sequence[Candidate]) -> tuple[str, ...]:
    queries: dict[tuple[str, ...], str] = {}
    per_defender: dict[str, int] = {}
    for c in _round_robin(list(cands)):
        if c.handle is not None or c.tier > MASTODON_MAX_TIER:
            continue
        key = mastodon_key(c.text)
        if key in queries or per_defender.get(c.defender_id, 0) >= MASTODON_QUERIES_PER_DEFENDER:
            continue
        per_defender[c.defender_id] = per_defender.get(c.defender_id, 0) + 1
        queries[key] = _quoted(c.words)
    return tuple(queries.values())


def mastodon_hashtags(defenders: Sequence[Defender]) -> tuple[str, ...]:
    """Tag names a hashtag timeline can be asked for: every alias glued into one word (as
    configured and with Kazakh letters typed the Russian way, since Mastodon does not fold
    Cyrillic), deduplicated as Mastodon normalises tags (case-insensitively, Latin diacritics
    folded)."""
    tags: dict[str, str] = {}
    for d in defenders:
        for alias in dict.fromkeys((d.name, *d.aliases)):
            glued = re.sub(r"[\W_]+", "", alias)
            for tag in (glued, _typed_russian(glued)):
                if tag:
                    tags.setdefault(_latin_fold(tag.lower()), tag)
    return tuple(tags.values())


def _typed_russian(word: str) -> str:
    """Kazakh letters replaced by the Russian ones a Russian keyboard offers (Қ → К)."""
    folded = nf.fold(word)
    return "".join(f.upper() if c.isupper() else f for c, f in zip(word, folded, strict=True))


def terms_for(platform: str, defenders: Sequence[Defender]) -> SearchTerms:
    """The default queries (priority order) and hashtags of one platform for `defenders`."""
    if platform not in ("bluesky", "mastodon") or not defenders:
        return SearchTerms()
    cands = _cached_candidates(_freeze(defenders))
    if platform == "bluesky":
        return SearchTerms(queries=bluesky_queries(cands))
    return SearchTerms(queries=mastodon_queries(cands), hashtags=mastodon_hashtags(defenders))


@dataclass(frozen=True)
class _FrozenDefender:
    id: str
    name: str
    aliases: tuple[str, ...]
    handles: Mapping[str, tuple[str, ...]]

    def __hash__(self) -> int:
        return hash((self.id, self.name, self.aliases, tuple(sorted(self.handles.items()))))


def _freeze(defenders: Sequence[Defender]) -> tuple[_FrozenDefender, ...]:
    return tuple(
        _FrozenDefender(
            d.id,
            d.name,
            tuple(d.aliases),
            {
                p: (h,) if isinstance(h, str) else tuple(h)
                for p, h in sorted(dict(d.handles).items())
            },
        )
        for d in defenders
    )


@cache
def _cached_candidates(defenders: tuple[_FrozenDefender, ...]) -> tuple[Candidate, ...]:
    return tuple(candidates(defenders, MentionMatcher(defenders)))


def search_terms_provider(defenders: Sequence[Defender]) -> Callable[[str], SearchTerms]:
    """What `CollectorContext.search_terms` gets: computed on first use, once per platform."""
    results: dict[str, SearchTerms] = {}

    def provide(platform: str) -> SearchTerms:
        if platform not in results:
            results[platform] = terms_for(platform, defenders)
        return results[platform]

    return provide
