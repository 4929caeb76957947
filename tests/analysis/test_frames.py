from __future__ import annotations

import pandas as pd
import pytest

from analysis.frames import AnalysisInput, input_from_posts

from .helpers import DEFENDERS, post


def sample_posts():
    return [
        post(
            "alice",
            0,
            "Hello #Один",
            pid="p1",
            links=("https://Ex.example/a?utm_source=x",),
            hashtags=("один", "два"),
        ),
        post("bob", 5, "", pid="p2", repost_of="p1"),
        post("alice", 9, "again", pid="p3", reply_to="p2"),
    ]


def test_input_from_posts_builds_the_contract():
    inp = input_from_posts(
        sample_posts(), mentions={("bluesky", "p1"): ["ormanova"]}, defenders=DEFENDERS
    )
    p = inp.posts
    assert list(p["post_id"]) == ["p1", "p2", "p3"]
    assert str(p["created_at"].dtype) == "datetime64[ns, UTC]"
    assert p["account_pk"].tolist() == [1, 2, 1]
    assert p.loc[1, "repost_of"] == "p1" and p.loc[2, "reply_to"] == "p2"
    assert inp.links.loc[0, "normalized_url"] == "https://ex.example/a"
    assert inp.links.loc[0, "domain"] == "ex.example"
    assert inp.hashtags["tag"].tolist() == ["один", "два"]
    assert inp.hashtags["position"].tolist() == [0, 1]
    assert inp.mentions.to_dict("records") == [{"post_pk": 1, "defender_id": "ormanova"}]
    assert set(inp.accounts["author_id"]) == {"did:alice", "did:bob"}
    assert inp.defender_names()["ormanova"].startswith("Бахыт")


def test_keys_do_not_depend_on_post_order():
    a = input_from_posts(sample_posts())
    b = input_from_posts(sample_posts()[::-1])
    pd.testing.assert_frame_equal(a.posts, b.posts)
    pd.testing.assert_frame_equal(a.accounts, b.accounts)


def test_validate_fills_optional_columns_and_rebuilds_accounts():
    posts = pd.DataFrame(
        {
            "post_pk": [1, 2],
            "account_pk": [7, 7],
            "created_at": ["2026-11-20T10:00:00Z", "2026-11-20T10:00:05Z"],
            "text": ["a", None],
        }
    )
    inp = AnalysisInput(posts=posts).validate()
    assert inp.posts["text"].tolist() == ["a", ""]
    assert inp.accounts["account_pk"].tolist() == [7]
    assert inp.posts["repost_of"].isna().all()


def test_validate_names_a_missing_required_column():
    with pytest.raises(ValueError, match="posts: required column 'account_pk'"):
        AnalysisInput(
            posts=pd.DataFrame({"post_pk": [1], "created_at": ["2026-01-01Z"]})
        ).validate()
