"""Search recall: the collectors' default queries against local servers that search as the
platforms' indexes do. Bluesky: ICU tokenising and folding, no stemming, strict AND, phrases;
Mastodon (last test): opted-in authors only, Latin folding, English stemming only.

The posts are the matcher's held-out labelled set (fictional people), served with realistic
postViews and facets by `bench.fake_search.FakeSearch` on 127.0.0.1; the collector is the real
one, through its real HTTP client. The figures for the whole set are printed by
`python bench/search_recall.py`.
"""

from __future__ import annotations

import pytest

from bench.fake_search import analyze, mastodon_fields, parse_query
from bench.search_recall import DECLINED, SETS, measure, measure_mastodon

# Six defenders with Russian, Kazakh and Latin declined forms in the held-out set.
SOME = frozenset(
    {"kozhakhmetova", "omirzakova", "abdikadyrov", "zavadskaya", "kondratyev", "alimzhanova"}
)


def test_the_fake_index_tokenises_and_folds_as_icu_does() -> None:
    """The fake must be as strict as the real index, or the recall below proves nothing."""
    assert analyze("Ормановаға кім?") == ["ормановага", "кім"]  # ғ folds, і does not
    assert analyze("Ёлкиной Жұмабековтің") == ["елкинои", "жүмабековтін"]  # й, ё, ұ fold
    assert analyze("Zavadskaya’s NGO") == ["zavadskaya's", "ngo"]  # one token, ’ = '
    assert analyze("Opманова") == ["op", "манова"]  # broken where the script changes
    assert analyze("#ОрмановаПредатель") == ["ормановапредатель"]
    assert analyze("Анна-Мария") == ["анна", "мария"]
    q = parse_query('"Бахыт Орманова" Ормановой OR mentions:a.bsky.social', {"a.bsky.social": "d"})
    assert q.phrases == [["бахыт", "орманова"]] and q.words == ["ормановои", "or"]
    assert q.mentions == "d"


@pytest.fixture(scope="module")
def runs() -> tuple:
    labelled, defenders = SETS["heldout"]
    old = measure(labelled, defenders, terms=None, only=SOME, label="aliases as written")
    new = measure(labelled, defenders, only=SOME, label="inflected forms")
    return old, new


def test_declined_forms_are_fetched(runs: tuple) -> None:
    old, new = runs
    assert new.total(DECLINED) >= 40
    assert new.recall(DECLINED) >= 0.95, new.missed
    # the aliases as written miss most declined forms: no stemming on the server
    assert old.recall(DECLINED) < 0.6
    assert new.recall() > old.recall()
    # what was fetched is a mention to the matcher too
    assert new.matched >= round(0.95 * new.total(DECLINED))


def test_one_request_per_query_when_nothing_is_new(runs: tuple) -> None:
    _, new = runs
    (searches,) = new.searches_per_pass
    (requests,) = new.requests_per_pass
    assert searches == new.queries  # six defenders fit the default budget of one pass
    assert searches <= requests <= searches + 1 + len(new.fetched) // 100 + 20  # + login


def test_mastodon_search_finds_only_opted_in_authors_and_no_folded_cyrillic() -> None:
    """Mastodon (PublicStatusesIndex): status search with a token over indexable authors only,
    words lower-cased with Latin diacritics folded, Cyrillic as written; hashtags exact."""
    verbatim, stemmed = mastodon_fields("Ormanova’s Қасымовой Ömırzaqovağa")
    assert stemmed == ["ormanova", "қасымовой", "omirzaqovaga"]  # ’s stemmed, ö ı ğ folded
    assert "касымовой" not in verbatim + stemmed  # қ is not folded, unlike on Bluesky
    labelled, defenders = SETS["heldout"]
    r = measure_mastodon(labelled, defenders, only=SOME)
    assert r.hashtags and r.queries <= 12 * len(SOME)
    assert r.declined_indexable >= 0.5  # the first 12 forms of each name
    # a third of the authors did not opt in: their posts are never found by search
    assert r.declined <= r.declined_indexable * r.indexable_total / r.declined_total + 1e-9
    assert r.requests_per_pass[0] >= r.queries + r.hashtags
