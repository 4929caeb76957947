"""Threats, doxxing and impersonation detection on fictional texts and accounts."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.harms import (
    edit_distance,
    find_impersonation,
    find_personal_data,
    find_threats,
    mask_personal_data,
    scan_posts,
    valid_iin,
)
from smearwatch.config import Defender

ORMANOVA = Defender(
    "ormanova",
    "Bakhyt Ormanova",
    ("Bakhyt Ormanova", "Бахыт Орманова"),
    {"bluesky": ("bakhyt-ormanova.bsky.social",), "telegram": ("ormanova_kz",)},
)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Орманову надо убить, хватит", "ru"),
        ("Мы знаем, где ты живёшь, Орманова", "ru"),
        ("Орманова, сені табамыз", "kk"),
        ("We know where you live, Ormanova", "en"),
        ("someone should BURN her HOUSE down", "en"),
    ],
)
def test_threats_in_three_languages(text: str, lang: str) -> None:
    hits = find_threats(text)
    assert hits and hits[0].lang == lang and not hits[0].reporting


@pytest.mark.parametrize(
    "text", ["Убийство кита в океанариуме", "Суд отложил заседание", "a killer app", ""]
)
def test_no_threat_in_ordinary_text(text: str) -> None:
    assert find_threats(text) == []


def test_reporting_a_threat_is_marked() -> None:
    hits = find_threats("Орманова получила угрозы: «тебе конец»")
    assert hits and all(h.reporting for h in hits)


def test_phones_addresses_and_iins_are_found_and_masked() -> None:
    text = (
        "Звоните ей: +7 701 234 56 78 или 8(727)123-45-67, живёт ул. Абая 12; "
        "ИИН 900101300027. Абай көшесі 15. Also +49 30 1234567, 12 Baker Street"
    )
    kinds = [h.kind for h in find_personal_data(text)]
    assert kinds.count("phone") == 3 and kinds.count("address") == 3
    assert "national_id" in kinds
    masked = mask_personal_data(text)
    for secret in ("234 56 78", "123-45-67", "900101300027", "Абая 12", "1234567"):
        assert secret not in masked


def test_numbers_that_are_not_personal_data() -> None:
    assert find_personal_data("В 2024 году 12000000 тенге, заказ 123456789012, 8 800") == []
    assert valid_iin("900101300027") and not valid_iin("900101300028")
    assert not valid_iin("901301300027")  # month 13


@pytest.mark.parametrize(
    ("handle", "display", "reason"),
    [
        ("bakhyt-0rmanova.bsky.social", None, "lookalike"),  # digit for a letter
        ("bakhyt-оrmanova.bsky.social", None, "lookalike"),  # Cyrillic о
        ("bakhyt_ormanova", None, "lookalike"),  # separators
        ("bakhyt-ormanowa.bsky.social", None, "edit distance 1"),
        ("ormanova_kz_official", None, "decorated"),
        ("someone.bsky.social", "Bakhyt Ormanova", "copied name"),
    ],
)
def test_impersonation(handle: str, display: str | None, reason: str) -> None:
    hits = find_impersonation(handle, display, [ORMANOVA])
    assert [(h.defender_id, h.reason) for h in hits] == [("ormanova", reason)]


@pytest.mark.parametrize(
    "handle", ["bakhyt-ormanova.bsky.social", "ormanova_kz", "@Ormanova_KZ", "someone_else"]
)
def test_own_handles_and_strangers_are_not_impersonation(handle: str) -> None:
    assert find_impersonation(handle, "Someone", [ORMANOVA]) == []


def test_edit_distance_counts_transpositions_once() -> None:
    assert edit_distance("ormanova", "ormnaova") == 1
    assert edit_distance("ormanova", "ormanova") == 0
    assert edit_distance("abc", "xyzxyzxyz", limit=2) == 3


def test_scan_posts_over_a_frame() -> None:
    frame = pd.DataFrame({"text": ["надо убить", "тел. +7 701 234 56 78", "ничего"]})
    hits = scan_posts(frame)
    assert list(hits["kind"]) == ["threat", "phone"] and list(hits["row"]) == [0, 1]
