"""Same-day harms in single posts and accounts: threats of violence, doxxing, impersonation.

Pure functions over texts and account names (no database), so the alert job, a notebook and
the tests all use the same rules. They are deliberately simple and explainable: each hit says
which phrase or pattern matched, so an analyst can judge it in seconds. They favour recall: an
alert that a human dismisses costs a minute, a missed threat can cost far more.

* Threats: phrase lists per language (Russian, Kazakh, English) in the editable data file
  `analysis/data/harms.toml`; a post that also uses reporting words ("угрозы", "threats") is
  marked as *reporting* a threat, not making one.
* Doxxing: phone numbers (Kazakh/Russian +7/8 formats and international +CC numbers), street
  addresses, and 12-digit Kazakh IINs (date of birth and check digit validated, so an order
  number rarely passes). Hits carry a masked form: alerts never repeat the personal data.
* Impersonation: an account whose handle or display name imitates a defender's configured
  handle or name (homoglyphs, separators, digit-for-letter swaps, one or two edits, the
  handle with a decoration such as "_official"), never the defender's own handle.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "HarmHit",
    "HarmRules",
    "Impersonation",
    "edit_distance",
    "find_impersonation",
    "find_personal_data",
    "find_threats",
    "handle_skeleton",
    "load_rules",
    "mask_personal_data",
    "scan_posts",
    "valid_iin",
]

DATA_FILE = Path(__file__).with_name("data") / "harms.toml"


@dataclass(frozen=True)
class HarmHit:
    kind: str  # threat, phone, address, national_id
    start: int
    end: int
    rule: str  # the phrase or pattern name that matched
    lang: str | None = None
    reporting: bool = False  # threats only: the post reports a threat rather than making one
    masked: str = ""  # personal data only: what an alert may show instead of the value


@dataclass(frozen=True)
class HarmRules:
    version: str
    threats: tuple[tuple[str, str, re.Pattern[str]], ...]  # (lang, phrase, pattern)
    reporting: re.Pattern[str] | None
    address_before: re.Pattern[str] | None
    address_after: re.Pattern[str] | None
    # Every threat phrase in one pattern: a post it does not match has no threat (one scan
    # instead of one per phrase, which made the alert job the daemon's busiest at 100 posts/s).
    any_threat: re.Pattern[str] | None = None


def _normalise(text: str) -> str:
    """Lower case, NFC, ё→е: same length as the input, so match offsets stay valid."""
    text = unicodedata.normalize("NFC", text).lower()
    return text.replace("ё", "е")


def _word(word: str) -> str:
    word = _normalise(word)
    if word.endswith("*"):
        return re.escape(word[:-1]) + r"\w*"
    tail = "" if not word[-1:].isalnum() else r"(?!\w)"
    return re.escape(word) + tail


def _phrase(phrase: str) -> re.Pattern[str]:
    parts = []
    for piece in phrase.split():
        parts.append(r"(?:\W+\w+){0,2}" if piece == "..." else _word(piece))
    pattern = ""
    for index, part in enumerate(parts):
        if index and not part.startswith(r"(?:\W+"):
            pattern += r"\W+"
        pattern += part
    return re.compile(r"(?<!\w)" + pattern)


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(_word(w) for w in sorted(words, key=len, reverse=True))


@cache
def load_rules(path: Path | None = None) -> HarmRules:
    """The phrase lists from `harms.toml` (or another file of the same shape)."""
    data = tomllib.loads((path or DATA_FILE).read_text(encoding="utf-8"))
    threats = tuple(
        (lang, phrase, _phrase(phrase))
        for lang, phrases in data.get("threats", {}).items()
        for phrase in phrases
    )
    reporting_words = [w for words in data.get("reporting", {}).values() for w in words]
    addresses = data.get("addresses", {})
    before, after = addresses.get("before", []), addresses.get("after", [])
    name = r"[^\W\d_][\w\-]*"
    return HarmRules(
        version=str(data.get("version", "")),
        threats=threats,
        reporting=re.compile(r"(?<!\w)(?:" + _alternatives(reporting_words) + ")")
        if reporting_words
        else None,
        address_before=re.compile(
            r"(?<!\w)(?:"
            + _alternatives(before)
            + r")\s*"
            + name
            + r"(?:\s+"
            + name
            + r")?,?\s*(?:(?:д|дом|үй|house|№)\.?\s*)?\d+"
        )
        if before
        else None,  # fmt: skip
        address_after=re.compile(
            r"(?:"
            + name
            + r"(?:\s+"
            + name
            + r")?\s+(?:"
            + _alternatives(after)
            + r")[\s,]*(?:(?:д|дом|үй|№)\.?\s*)?\d+)|(?:(?<!\d)\d+[a-zа-я]?\s+"
            + name
            + r"(?:\s+"
            + name
            + r")?\s+(?:"
            + _alternatives(after)
            + r"))"
        )
        if after
        else None,  # fmt: skip
        any_threat=_any_of(pattern for _, _, pattern in threats),
    )


def _any_of(patterns: Iterable[re.Pattern[str]]) -> re.Pattern[str] | None:
    """One pattern that matches wherever one of `patterns` (each starting with the same
    word-start look-behind, see `_phrase`) matches: the look-behind is tested once."""
    start = r"(?<!\w)"
    bodies = [p.pattern.removeprefix(start) for p in patterns]
    if not bodies:
        return None
    return re.compile(start + "(?:" + "|".join(f"(?:{b})" for b in bodies) + ")")


def find_threats(text: str, rules: HarmRules | None = None) -> list[HarmHit]:
    """Threat phrases in `text`, the longest first where two overlap."""
    rules = rules or load_rules()
    norm = _normalise(text)
    if rules.any_threat is not None and rules.any_threat.search(norm) is None:
        return []
    hits: list[HarmHit] = []
    for lang, phrase, pattern in rules.threats:
        for match in pattern.finditer(norm):
            hits.append(HarmHit("threat", match.start(), match.end(), phrase, lang))
    if not hits:
        return []
    reporting = bool(rules.reporting and rules.reporting.search(norm))
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[HarmHit] = []
    for hit in hits:
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(HarmHit(hit.kind, hit.start, hit.end, hit.rule, hit.lang, reporting=reporting))
    return kept


_SEP = r"[\s\-().]{0,2}"
_PHONE_RU_KZ = re.compile(
    r"(?<![\d+])(?:\+7|8)" + _SEP + r"\(?[3-9]\d{2}\)?" + _SEP + r"\d{3}" + _SEP + r"\d{2}"
    + _SEP + r"\d{2}(?!\d)"
)  # fmt: skip
_PHONE_INTL = re.compile(r"(?<![\d+])\+(?!7)[1-9]\d{0,2}(?:[\s\-.]?\(?\d{1,4}\)?){2,5}(?!\d)")
_IIN = re.compile(r"(?<!\d)\d{12}(?!\d)")


def valid_iin(digits: str) -> bool:
    """A Kazakh IIN: YYMMDD birth date, a century/sex digit 1-6 and the check digit."""
    if len(digits) != 12 or not digits.isdigit():
        return False
    year, month, day = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    century = int(digits[6])
    if century < 1 or century > 6:
        return False
    full_year = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}[century] + year
    try:
        date(full_year, month, day)
    except ValueError:
        return False
    numbers = [int(c) for c in digits]
    check = sum(w * n for w, n in zip(range(1, 12), numbers[:11], strict=True)) % 11
    if check == 10:
        weights = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]
        check = sum(w * n for w, n in zip(weights, numbers[:11], strict=True)) % 11
        if check == 10:
            return False
    return check == numbers[11]


def _mask_digits(value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    return "".join(digits[:2]) + "•" * max(0, len(digits) - 4) + "".join(digits[-2:])


def find_personal_data(text: str, rules: HarmRules | None = None) -> list[HarmHit]:
    """Phone numbers, IINs and street addresses in `text`, in order of position."""
    rules = rules or load_rules()
    hits: list[HarmHit] = []
    for match in _PHONE_RU_KZ.finditer(text):
        hits.append(HarmHit("phone", match.start(), match.end(), "phone +7", masked=_mask(match)))
    for match in _PHONE_INTL.finditer(text):
        digits = sum(c.isdigit() for c in match.group())
        if 8 <= digits <= 15:
            hits.append(
                HarmHit("phone", match.start(), match.end(), "phone intl", masked=_mask(match))
            )  # noqa: E501
    for match in _IIN.finditer(text):
        if valid_iin(match.group()):
            hits.append(
                HarmHit("national_id", match.start(), match.end(), "IIN", masked=_mask(match))
            )  # noqa: E501
    norm = _normalise(text)
    for pattern in (rules.address_before, rules.address_after):
        if pattern is None:
            continue
        for match in pattern.finditer(norm):
            hits.append(
                HarmHit("address", match.start(), match.end(), "address", masked="street address")
            )
    hits.sort(key=lambda h: (h.start, -(h.end - h.start)))
    kept: list[HarmHit] = []
    for hit in hits:
        if kept and hit.start < kept[-1].end:
            continue
        kept.append(hit)
    return kept


def _mask(match: re.Match[str]) -> str:
    return _mask_digits(match.group())


def mask_personal_data(text: str, hits: Sequence[HarmHit] | None = None) -> str:
    """`text` with each piece of personal data replaced by its masked form."""
    hits = find_personal_data(text) if hits is None else hits
    out, last = [], 0
    for hit in sorted(hits, key=lambda h: h.start):
        if hit.kind == "threat" or hit.start < last:
            continue
        out.append(text[last : hit.start])
        label = "phone" if hit.kind == "phone" else hit.kind.replace("_", " ")
        out.append(f"[{hit.masked}]" if hit.kind == "address" else f"[{label} {hit.masked}]")
        last = hit.end
    out.append(text[last:])
    return "".join(out)


# --- impersonation ---------------------------------------------------------------------------

# Letters that look alike (Cyrillic and Greek to Latin) and digit-for-letter swaps.
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o",
        "р": "p", "с": "c", "т": "t", "у": "y", "х": "x", "і": "l", "ї": "l", "ј": "j",
        "ѕ": "s", "ԁ": "d", "ӏ": "l", "һ": "h", "ү": "y", "α": "a", "ο": "o", "ρ": "p",
        "ν": "v", "ι": "l", "κ": "k", "0": "o", "1": "l", "3": "e", "4": "a", "5": "s",
        "7": "t", "8": "b", "i": "l", "|": "l", "!": "l",
    }
)  # fmt: skip
_DECORATION = re.compile(r"[\s._\-·•]+")


def _handle_core(handle: str) -> str:
    """The part of a handle a person reads: no '@', no Mastodon instance, no Bluesky domain."""
    handle = handle.strip().lstrip("@").lower()
    handle = handle.split("@", 1)[0]
    for suffix in (".bsky.social", ".bsky.app"):
        if handle.endswith(suffix):
            handle = handle[: -len(suffix)]
    return handle


def handle_skeleton(value: str) -> str:
    """What a handle or name looks like, not what it is: `0rmanоva_` and `ormanova` agree."""
    text = unicodedata.normalize("NFKD", _handle_core(value))
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = text.replace("rn", "m").replace("vv", "w")
    text = text.translate(_HOMOGLYPHS)
    return _DECORATION.sub("", text)


def edit_distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, capped at `limit` + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


@dataclass(frozen=True)
class Impersonation:
    defender_id: str
    imitated: str  # the defender's handle or name that is imitated
    field: str  # handle or display_name
    reason: str  # lookalike, edit distance N, decorated, copied name


_DECORATIONS = ("official", "real", "the", "true", "news", "kz", "team", "info", "org", "ofc")
_DECORATION_SKELETONS = frozenset(handle_skeleton(d) for d in _DECORATIONS) | frozenset(
    handle_skeleton(a + b) for a in _DECORATIONS for b in _DECORATIONS
)


def find_impersonation(
    handle: str | None,
    display_name: str | None,
    defenders: Iterable[Any],
) -> list[Impersonation]:
    """Which defenders the account `handle`/`display_name` imitates.

    `defenders` are objects with `id`, `name` and `handles` (platform -> handles), such as
    `smearwatch.config.Defender`. The defender's own handles never match, on any platform.
    """
    found: list[Impersonation] = []
    core = _handle_core(handle) if handle else ""
    skeleton = handle_skeleton(handle) if handle else ""
    for defender in defenders:
        own = _defender_handles(defender.handles)
        if core and core in {_handle_core(h) for h in own}:
            continue
        hit: Impersonation | None = None
        for target in own:
            target_skeleton = handle_skeleton(target)
            if len(target_skeleton) < 4 or not skeleton:
                continue
            if skeleton == target_skeleton:
                hit = Impersonation(defender.id, target, "handle", "lookalike")
                break
            limit = 1 if len(target_skeleton) < 10 else 2
            distance = edit_distance(skeleton, target_skeleton, limit)
            if len(target_skeleton) >= 6 and distance <= limit:
                hit = Impersonation(defender.id, target, "handle", f"edit distance {distance}")
                break
            if target_skeleton in skeleton:
                rest = skeleton.replace(target_skeleton, "", 1)
                if rest in _DECORATION_SKELETONS or len(rest) <= 2:
                    hit = Impersonation(defender.id, target, "handle", "decorated")
                    break
        if hit is None and display_name:
            shown = handle_skeleton(display_name)
            names = {defender.name, *own}
            for name in names:
                if len(handle_skeleton(name)) >= 6 and shown == handle_skeleton(name):
                    hit = Impersonation(defender.id, name, "display_name", "copied name")
                    break
        if hit is not None:
            found.append(hit)
    return found


def _defender_handles(handles: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    for value in handles.values():
        out.extend([value] if isinstance(value, str) else list(value))
    return out


def scan_posts(frame: Any, rules: HarmRules | None = None) -> Any:
    """Threat and personal-data hits for a pandas frame with `text` (one row per hit).

    Columns: the frame's index value as `row`, `kind`, `rule`, `lang`, `reporting`, `masked`.
    """
    import pandas as pd

    rules = rules or load_rules()
    rows = []
    for index, text in frame["text"].items():
        if not isinstance(text, str) or not text:
            continue
        for hit in (*find_threats(text, rules), *find_personal_data(text, rules)):
            rows.append(
                {
                    "row": index,
                    "kind": hit.kind,
                    "rule": hit.rule,
                    "lang": hit.lang,
                    "reporting": hit.reporting,
                    "masked": hit.masked,
                }
            )
    return pd.DataFrame(rows, columns=["row", "kind", "rule", "lang", "reporting", "masked"])
