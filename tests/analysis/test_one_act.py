"""One act counts once, on the shapes real exports and collectors produce.

A twarc2 retweet carries ``RT @x: <text>`` and the original's links, hashtags and mentions; a
Telegram forward (web preview) carries the original's text, links and hashtags; a Bluesky
quote has its own text and links beside the embedded record. The fixtures are read by the
real readers (twarc2 JSONL reader, Telegram collector on a local HTTP server, Bluesky
postView parser), so the test sees exactly what the database would hold. All accounts are
fictional.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from analysis.coordination import coordination_edges, layer_events
from analysis.frames import input_from_posts
from analysis.params import AnalysisParams
from analysis.text import near_duplicate_groups
from collector.base import CollectorContext
from collector.bluesky import post_from_view
from collector.files import open_export, reader_for
from collector.http import HttpClient, HttpPolicy
from collector.post import Post
from collector.telegram import TelegramCollector

from .helpers import organic_background, post

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _run(posts: list[Post]):
    # ordinary traffic around the fixture's posts, so the null model has a background
    inp = input_from_posts([*posts, *organic_background()]).validate()
    params = AnalysisParams()
    own = inp.posts[inp.posts["repost_of"].isna()].set_index("post_pk")["text"]
    texts = near_duplicate_groups(own)
    events = layer_events(inp, params, texts)
    res = coordination_edges(inp, params, texts)
    return inp, events, res


def _pk(inp, author_id: str) -> int:
    row = inp.accounts[inp.accounts["author_id"] == author_id]
    return int(row["account_pk"].iloc[0])


def _pks_of(inp, author_id: str) -> set[int]:
    return set(inp.posts.loc[inp.posts["author_id"] == author_id, "post_pk"])


def _pair(res, a: int, b: int):
    e = res.edges
    return e[(e["a"] == min(a, b)) & (e["b"] == max(a, b))]


def _twarc2_posts() -> list[Post]:
    with open_export(FIXTURES / "twarc2" / "coretweets_one_act.jsonl") as export:
        records = list(reader_for("twarc2-jsonl").read(export))
    assert all(r.error is None for r in records)
    return [r.post for r in records if r.post is not None]


def test_twarc2_retweet_with_entities_is_one_act() -> None:
    posts = _twarc2_posts()
    retweets = [p for p in posts if p.repost_of]
    # the shape under test: the retweet carries the original's text, link, hashtag, mention
    assert retweets and all(p.text.startswith("RT @qazaq_times_example: ") for p in retweets)
    assert all(p.links and p.hashtags and p.mentions for p in retweets)
    inp, events, res = _run(posts)
    a, b = _pk(inp, "1700000000000000202"), _pk(inp, "1700000000000000303")
    mine = _pks_of(inp, "1700000000000000202") | _pks_of(inp, "1700000000000000303")
    # a retweet acts on the retweeted post only: not on its inherited link or hashtags
    assert set(events["repost"].frame["post_pk"]) >= mine
    for layer in ("link", "hashtags", "text", "near_text", "pileon"):
        if layer in events:
            assert not set(events[layer].frame["post_pk"]) & mine, layer
    # one co-retweet within a minute (the other retweets are hours apart): one repetition,
    # which is below min_repetitions, so the pair is not even a candidate edge (counting the
    # inherited link and hashtag too would have made it three)
    assert _pair(res, a, b).empty


def test_twarc2_retweets_counted_once_whatever_layers_they_touch() -> None:
    posts = _twarc2_posts()
    # the same two readers retweet a second story within seconds: now two acts each
    second = [p for p in posts if p.post_id in ("1861500000000000021", "1861500000000000022")]
    late = next(p for p in second if p.post_id.endswith("22"))
    early = next(p for p in second if p.post_id.endswith("21"))
    moved = [
        p
        if p is not late
        else dataclasses.replace(p, created_at=early.created_at + timedelta(seconds=9))
        for p in posts
    ]
    inp, _, res = _run(moved)
    a, b = _pk(inp, "1700000000000000202"), _pk(inp, "1700000000000000303")
    row = _pair(res, a, b)
    assert len(row) == 1
    assert int(row["n"].iloc[0]) == 2 and int(row["n_repost"].iloc[0]) == 2
    for col in ("n_link", "n_hashtags", "n_text", "n_pileon"):
        if col in row:
            assert int(row[col].iloc[0]) == 0, col


NOW = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
POLICY = HttpPolicy(
    timeout=1.0,
    connect_timeout=1.0,
    max_attempts=2,
    backoff_base=0.01,
    backoff_cap=0.05,
    max_wait=1.0,
    per_host_limit=2,
    min_interval=0.0,
    user_agent="smearwatch-tests/1 (+tests)",
)
CHANNELS = {
    "aigerim_digest_example": "forwards_reader_one.html",
    "almaty_chat_news_example": "forwards_reader_two.html",
}


@pytest.fixture
def telegram_posts(httpserver: HTTPServer) -> list[Post]:
    for channel, name in CHANNELS.items():
        html = (FIXTURES / "telegram" / name).read_text(encoding="utf-8")
        httpserver.expect_request(f"/s/{channel}").respond_with_response(
            Response(html, status=200, content_type="text/html; charset=utf-8")
        )
    http = HttpClient(POLICY)
    try:
        context = CollectorContext(http=http, defenders=(), env={}, now=lambda: NOW)
        collector = TelegramCollector(
            {
                "name": "tg",
                "platform": "telegram",
                "base_url": httpserver.url_for("/").rstrip("/"),
                "channels": list(CHANNELS),
            },
            context,
        )
        pages = list(collector.fetch(None, since=datetime(2026, 11, 19, tzinfo=UTC)))
    finally:
        http.close()
    return [p for page in pages for p in page.posts]


def test_telegram_forwards_count_as_reposts_only(telegram_posts: list[Post]) -> None:
    posts = telegram_posts
    assert len(posts) == 4
    # the forwards carry the original's text, link and hashtag, and point to it
    assert all(p.repost_of and p.repost_of.startswith("qazaq_times_tg_example/") for p in posts)
    assert all(p.links and p.hashtags and p.text for p in posts)
    inp, events, res = _run(posts)
    a, b = _pk(inp, "aigerim_digest_example"), _pk(inp, "almaty_chat_news_example")
    row = _pair(res, a, b)
    # two co-forwards within seconds: two repetitions (as reposts), not six
    assert len(row) == 1
    assert int(row["n"].iloc[0]) == 2 and int(row["n_repost"].iloc[0]) == 2
    forwards = set(inp.posts.loc[inp.posts["repost_of"].notna(), "post_pk"])
    for layer in ("link", "hashtags", "text", "near_text"):
        if layer in events:
            assert not set(events[layer].frame["post_pk"]) & forwards, layer


def test_bluesky_quote_counts_its_own_link_and_a_post_pair_once() -> None:
    data = json.loads((FIXTURES / "bluesky" / "searchPosts_quotes.json").read_text("utf-8"))
    posts = [post_from_view(v) for v in data["posts"]]
    quotes = [p for p in posts if p.quote_of]
    assert len(quotes) == 3 and all(p.links for p in quotes)
    inp, events, res = _run(posts)
    aliya = _pk(inp, "did:plc:fakealiyareads0000000000001")
    bolat = _pk(inp, "did:plc:fakebolatkz000000000000001")
    # a quote's own added link is its author's action
    quote_pks = set(inp.posts.loc[inp.posts["quote_of"].notna(), "post_pk"])
    assert quote_pks <= set(events["link"].frame["post_pk"])
    assert quote_pks <= set(events["repost"].frame["post_pk"])
    row = _pair(res, aliya, bolat)
    assert len(row) == 1
    # 09:00 both quote the same post and add the same link: one act each, one repetition;
    # 13:00 a quote's own link is shared by a plain post: a second repetition, on the link
    assert int(row["n"].iloc[0]) == 2
    assert int(row["n_link"].iloc[0]) >= 1
    ev = res.evidence[(res.evidence["a"] == min(aliya, bolat))]
    ev = ev[ev["b"] == max(aliya, bolat)]
    # accepted edges keep every layer of a post pair as evidence, one of them counted
    assert bool(row["accepted"].iloc[0])
    morning = ev[ev["dt_s"] == 14.0]
    assert set(morning["layer"]) == {"repost", "link"}
    assert morning["counted"].sum() == 1
    assert ev.loc[ev["dt_s"] == 20.0, "counted"].all()


def test_quote_does_not_act_on_links_it_shares_with_the_quoted_post() -> None:
    data = json.loads((FIXTURES / "bluesky" / "searchPosts_quotes.json").read_text("utf-8"))
    posts = [post_from_view(v) for v in data["posts"]]
    original = next(p for p in posts if not p.quote_of and p.links)
    # an export that copies the quoted post's link into the quote (as some tools do)
    copied = [
        dataclasses.replace(p, links=(*p.links, *original.links))
        if p.quote_of == original.post_id
        else p
        for p in posts
    ]
    inp, events, _ = _run(copied)
    link_events = events["link"].frame
    quote_pks = set(inp.posts.loc[inp.posts["quote_of"] == original.post_id, "post_pk"])
    labels = events["link"].label_of(
        link_events.loc[link_events["post_pk"].isin(quote_pks), "key"].to_numpy()
    )
    assert len(labels) == len(quote_pks)  # only the quotes' own links remain
    assert not any("qazaq-times.example" in str(u) for u in labels)


def _fan_crowd() -> list[Post]:
    """A popular account's three posts, each reposted within a minute by a different crowd of
    25 of its 2,000 readers, and always by the same three super-fans."""
    import random

    rng = random.Random(5)
    posts = organic_background(n_accounts=300, posts_each=10)
    readers = [f"reader{i}" for i in range(2000)]
    for k in range(3):
        t0 = 3000.0 * k
        posts.append(
            post("popular", t0, f"новость дня номер {k} для всех читателей", pid=f"pop{k}")
        )
        crowd = rng.sample(readers, 25) + ["fan1", "fan2", "fan3"]
        for who in crowd:
            posts.append(
                post(who, t0 + rng.uniform(2, 40), "", pid=f"{who}-rp{k}", repost_of=f"pop{k}")
            )
    return posts


def test_fans_inside_a_reposting_crowd_are_not_a_cluster() -> None:
    from analysis.engine import analyze

    from .helpers import build

    inp = build(_fan_crowd())
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    # without the crowd rule the three fans, meeting three times, are a cluster...
    loose = analyze(inp, AnalysisParams(min_burst_share=0.0))
    fans = {"did:fan1", "did:fan2", "did:fan3"}
    assert any({names[m] for m in c.member_pks} == fans for c in loose.clusters)
    share = next(c.signals["burst_share"] for c in loose.clusters)
    assert share < 0.2  # 3 of the 28 accounts reposting within the minute
    # ...but they are three faces in a crowd of readers, not a group acting on its own
    assert analyze(inp, AnalysisParams()).clusters == []


def test_one_sites_feed_accounts_are_not_a_campaign() -> None:
    from analysis.engine import analyze

    from .helpers import build

    posts = organic_background(n_accounts=200, posts_each=8)
    for k in range(25):
        url = f"https://qazaq-times.example/2026/11/{k}"
        head = f"Главное за час выпуск {k} новости города и страны"
        for i, bot in enumerate(("qt_channel", "qt_rss_bot", "qt_mirror")):
            posts.append(post(bot, 1800.0 * k + 4 * i, f"{head} {url}", links=(url,)))
    inp = build(posts)
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    bots = {"did:qt_channel", "did:qt_rss_bot", "did:qt_mirror"}
    loose = analyze(inp, AnalysisParams(feed_min_posts=10**6))
    assert any({names[m] for m in c.member_pks} == bots for c in loose.clusters)
    # every post of all three links to the one site: the site publishing, not a campaign
    assert analyze(inp, AnalysisParams()).clusters == []


def _site_with_readers(readers_meet: bool) -> list[Post]:
    """A site's two feed accounts post each of its 30 articles within seconds; three readers
    share two articles each through the share button within a minute of the feeds, each a
    different pair (the 1M bench's news12 shape). With ``readers_meet`` the three readers
    also share three links of their own together, as a group acting on its own would."""
    posts = organic_background(n_accounts=200, posts_each=8)
    for k in range(30):
        url = f"https://qazaq-times.example/2026/11/{k}"
        head = f"Главное за час выпуск {k} новости города и страны"
        for i, bot in enumerate(("qt_channel", "qt_rss_bot")):
            posts.append(post(bot, 1800.0 * k + 3 * i, f"{head} {url}", links=(url,)))
        reader = ("reader_a", "reader_b", "reader_c", None, None)[k % 5]
        if reader is not None and k < 10:
            posts.append(post(reader, 1800.0 * k + 25, f"{head} {url} via @qt", links=(url,)))
    if readers_meet:
        for k in range(3):
            url = f"https://petition.example/{k}"
            for i, who in enumerate(("reader_a", "reader_b", "reader_c")):
                posts.append(
                    post(who, 40000.0 + 7000 * k + 5 * i, f"подпишите {url}", links=(url,))
                )
    return posts


@pytest.mark.parametrize("readers_meet", [False, True])
def test_feeds_do_not_carry_their_readers_into_a_cluster(readers_meet: bool) -> None:
    from analysis.engine import analyze

    from .helpers import build

    inp = build(_site_with_readers(readers_meet))
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    readers = {"did:reader_a", "did:reader_b", "did:reader_c"}
    everyone = readers | {"did:qt_channel", "did:qt_rss_bot"}
    # without the feed rule the two feeds and the three readers are one dense cluster: each
    # reader met both feeds twice, the feeds met on every article
    loose = analyze(inp, AnalysisParams(feed_min_posts=10**6))
    assert [{names[m] for m in c.member_pks} for c in loose.clusters] == [everyone]
    found = [{names[m] for m in c.member_pks} for c in analyze(inp, AnalysisParams()).clusters]
    if readers_meet:
        # readers who also act together are a cluster whatever feeds they read; the feeds
        # are sources, not members
        assert found == [readers]
    else:
        # without the feeds no reader is linked to another: the site publishing, and three
        # of its readers sharing an article each, not a cluster
        assert found == []


def test_feeds_lend_no_bursts_to_fans_in_a_crowd() -> None:
    from analysis.engine import analyze

    from .helpers import build

    # the three super-fans of _fan_crowd (3 of the 28 accounts reposting within each minute)
    # each also shared two of a site's articles within a minute of its two feeds (the 1M
    # bench's seed 3: news9's bots, a reader and a triangle of hub fans were one cluster)
    posts = _fan_crowd()
    fans = ["fan1", "fan2", "fan3"]
    for k in range(30):
        url = f"https://qazaq-times.example/2026/11/{k}"
        head = f"Главное за час выпуск {k} новости города и страны"
        t = 20000.0 + 1800.0 * k
        for i, bot in enumerate(("qt_channel", "qt_rss_bot")):
            posts.append(post(bot, t + 3 * i, f"{head} {url}", links=(url,)))
        if k < 6:
            fan = fans[k % 3]
            posts.append(post(fan, t + 20, f"{head} {url} via @qt", links=(url,)))
    inp = build(posts)
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    # without the feed rule the feeds and the fans are one cluster, and its best layer is the
    # feeds' own: the site's links, where they are alone around every burst
    loose = analyze(inp, AnalysisParams(feed_min_posts=10**6))
    assert [{names[m] for m in c.member_pks} for c in loose.clusters] == [
        {"did:qt_channel", "did:qt_rss_bot", "did:fan1", "did:fan2", "did:fan3"}
    ]
    assert loose.clusters[0].signals["burst_share"] == 1.0
    # without the feeds the fans are three faces in a crowd of readers: no cluster
    assert analyze(inp, AnalysisParams()).clusters == []


def _hub_posts(fans: list[str], others: int, age: float) -> list[Post]:
    """A hub's four posts, each reposted by ``fans`` within seconds and by ``others`` other
    readers (a different few each time) in the same minute; the reposts come ``age`` seconds
    after the post (the generator's hub shape: notifications bring fans within 2-40 s)."""
    import random

    rng = random.Random(8)
    posts = organic_background(n_accounts=300, posts_each=10)
    for k in range(4):
        t0 = 5000.0 * k
        posts.append(post("hub", t0 - age, f"мнение хаба номер {k} о городе", pid=f"hub{k}"))
        crowd = fans + [f"reader{k}_{i}" for i in range(others)]
        for who in crowd:
            posts.append(
                post(who, t0 + rng.uniform(0, 30), "", pid=f"{who}-hub{k}", repost_of=f"hub{k}")
            )
    return posts


def test_fans_reposting_within_seconds_of_the_post_react_with_its_author() -> None:
    from analysis.engine import analyze

    from .helpers import build

    fans = ["fan_a", "fan_b", "fan_c"]
    # reposted two hours after posting: three fans and three other readers in each minute,
    # half of the crowd around the bursts (the 1M bench's seven hub fans had exactly that)
    old = build(_hub_posts(fans, others=3, age=7200.0))
    names = dict(zip(old.accounts["account_pk"], old.accounts["author_id"], strict=True))
    found = analyze(old, AnalysisParams()).clusters
    assert [{names[m] for m in c.member_pks} for c in found] == [{f"did:{f}" for f in fans}]
    assert found[0].signals["burst_share"] == pytest.approx(0.5)
    # reposted seconds after posting: the hub posting is one of the accounts of that minute,
    # and the fans are less than half of it (3 of 7)
    fresh = analyze(build(_hub_posts(fans, others=3, age=5.0)), AnalysisParams(min_burst_share=0))
    assert [c.signals["burst_share"] for c in fresh.clusters] == [pytest.approx(3 / 7, abs=1e-4)]
    assert analyze(build(_hub_posts(fans, others=3, age=5.0)), AnalysisParams()).clusters == []


def test_a_group_reposting_its_seed_within_seconds_is_still_found() -> None:
    from analysis.engine import analyze

    from .helpers import build

    ring = [f"ring{i}" for i in range(5)]
    inp = build(_hub_posts(ring, others=0, age=5.0))
    names = dict(zip(inp.accounts["account_pk"], inp.accounts["author_id"], strict=True))
    (cluster,) = analyze(inp, AnalysisParams()).clusters
    assert {names[m] for m in cluster.member_pks} == {f"did:{r}" for r in ring}
    assert cluster.signals["burst_share"] == pytest.approx(5 / 6, abs=1e-4)  # the seed is the sixth
