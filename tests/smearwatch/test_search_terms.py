"""Default search queries and hashtags made from the matcher's name forms."""

from __future__ import annotations

from dataclasses import dataclass, field

from analysis.mentions import MentionMatcher
from collector.base import CollectorContext
from collector.bluesky import PASSWORD_ENV, BlueskyCollector
from collector.http import HttpClient, HttpPolicy
from collector.mastodon import TOKEN_ENV, MastodonCollector
from smearwatch.search_terms import (
    bluesky_key,
    mastodon_key,
    search_terms_provider,
    terms_for,
)


@dataclass(frozen=True)
class Defender:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    handles: dict[str, tuple[str, ...]] = field(default_factory=dict)


ORMANOVA = Defender(
    "ormanova",
    "Бахыт Орманова",
    ("Бахыт Орманова", "Bakhyt Ormanova", "Орманова", "Ormanova"),
    {"bluesky": ("bormanova.bsky.social",), "telegram": ("ormanova_b",)},
)
KASYMOVA = Defender("kasymova", "Жанар Қасымова", ("Қасымова", "Kassymova"))
GUSEVA = Defender("guseva", "Нина Гусева", ("Nina Guseva",))  # no surname alone


def test_bluesky_queries_cover_the_declined_forms_in_priority_order() -> None:
    queries = terms_for("bluesky", [ORMANOVA, KASYMOVA]).queries
    keys = [bluesky_key(q) for q in queries]
    assert len(keys) == len(set(keys)), "two queries the index folds to the same words"
    assert queries[0] == "mentions:bormanova.bsky.social"  # the handle, as a facet filter
    assert "ormanova_b" not in " ".join(queries)  # a Telegram handle is not searched here
    position = {bluesky_key(q): i for i, q in enumerate(queries)}
    for nominative, declined in [
        ("Орманова", "Ормановой"),
        ("Ормановой", "Ормановаға"),
        ("Ормановаға", "Ormanovaga"),
        ("Ormanovaga", "Ормановасы"),
    ]:
        assert position[bluesky_key(nominative)] < position[bluesky_key(declined)]
    for form in ["Орманову", "Орманованың", "Ормановамен", "Ormanovoy", "Ormanova's",
                 "Qasymovağa", "Kassymovoy", "Касымовой"]:  # fmt: skip
        assert bluesky_key(form) in position, form
    # the index folds қ to к: Қасымовой and Касымовой are one query, not two
    assert sum(1 for q in queries if bluesky_key(q) == bluesky_key("Касымовой")) == 1


def test_every_query_is_a_mention_to_the_matcher() -> None:
    matcher = MentionMatcher([ORMANOVA, KASYMOVA, GUSEVA])
    terms = terms_for("bluesky", [ORMANOVA, KASYMOVA, GUSEVA])
    for query in terms.queries:
        if query.startswith("mentions:"):
            continue
        found = matcher.find(query.replace('"', ""))
        assert found, query


def test_a_full_name_without_its_surname_alone_is_searched_as_both_words() -> None:
    queries = terms_for("bluesky", [GUSEVA]).queries
    assert "Нина Гусева" in queries
    assert "Нины Гусевой" in queries or "Нине Гусевой" in queries  # the same case, AND
    assert all(len(bluesky_key(q)) == 2 for q in queries)  # never the surname alone


def test_mastodon_terms_fold_as_mastodon_does() -> None:
    terms = terms_for("mastodon", [ORMANOVA, KASYMOVA])
    # hashtags: every alias glued, Kazakh letters also typed the Russian way
    tags = {t.lower() for t in terms.hashtags}
    assert {"бахыторманова", "bakhytormanova", "орманова", "қасымова", "касымова"} <= tags
    keys = [mastodon_key(q) for q in terms.queries]
    assert len(keys) == len(set(keys))
    # Mastodon does not fold Cyrillic and stems English possessives away
    assert mastodon_key("Қасымовой") != mastodon_key("Касымовой")
    assert mastodon_key("Ormanova's") == mastodon_key("Ormanova")
    assert bluesky_key("Ormanova's") != bluesky_key("Ormanova")
    assert len(terms.queries) <= 2 * 12
    assert terms_for("telegram", [ORMANOVA]).queries == ()


def test_the_provider_computes_once_per_platform() -> None:
    provide = search_terms_provider([ORMANOVA])
    assert provide("bluesky") is provide("bluesky")
    assert provide("mastodon").hashtags


def test_collectors_take_their_defaults_from_the_wiring_layer() -> None:
    """What `smearwatch collect` hands the collectors: Bluesky and Mastodon build their default
    queries and hashtags from these terms; explicit settings still win."""
    http = HttpClient(HttpPolicy())
    try:
        context = CollectorContext(
            http=http,
            defenders=[ORMANOVA, KASYMOVA],
            env={PASSWORD_ENV: "x", TOKEN_ENV: "t"},
            search_terms=search_terms_provider([ORMANOVA, KASYMOVA]),
        )
        bsky = BlueskyCollector(
            {"name": "b", "platform": "bluesky", "identifier": "research.example"}, context
        )
        assert bsky.queries == terms_for("bluesky", [ORMANOVA, KASYMOVA]).queries
        assert "Ормановаға" in bsky.queries and "mentions:bormanova.bsky.social" in bsky.queries
        masto = MastodonCollector(
            {"name": "m", "platform": "mastodon", "base_url": "https://example.social"}, context
        )
        assert "Касымова" in masto.hashtags and "БахытОрманова" in masto.hashtags
        assert "Ормановой" in masto.queries
        own = MastodonCollector(
            {
                "name": "m2",
                "platform": "mastodon",
                "base_url": "https://example.social",
                "hashtags": ["грантоед"],
                "queries": ["Орманова"],
            },
            context,
        )
        assert own.hashtags == ("грантоед",) and own.queries == ("Орманова",)
    finally:
        http.close()
