"""The labelled evaluation set must stay above the issue's targets, and every reported span
must be exactly the text it points at."""

from __future__ import annotations

import pytest

from analysis.mentions import MentionMatcher
from bench.mentions import evaluate, load_defenders, load_eval


@pytest.fixture(scope="module")
def matcher() -> MentionMatcher:
    return MentionMatcher(load_defenders())


def test_precision_and_recall_targets(matcher: MentionMatcher) -> None:
    total, per, errors = evaluate(matcher, load_eval())
    detail = "\n".join(f"{p['id']}: {sorted(found)} {p['text']}" for p, found in errors)
    assert total.precision >= 0.97, detail
    assert total.recall >= 0.95, detail
    for lang in ("ru", "kk", "en"):
        assert per[f"lang:{lang}"].recall >= 0.9, detail


def test_spans_point_at_the_matched_text(matcher: MentionMatcher) -> None:
    for post in load_eval():
        fields = {
            "text": post["text"],
            "url": post.get("url"),
            **{f"hashtags[{i}]": v for i, v in enumerate(post.get("hashtags", []))},
            **{f"mentions[{i}]": v for i, v in enumerate(post.get("mentions", []))},
            **{f"links[{i}]": v for i, v in enumerate(post.get("links", []))},
        }
        found = matcher.find(
            post["text"],
            hashtags=post.get("hashtags", ()),
            mentions=post.get("mentions", ()),
            links=post.get("links", ()),
            url=post.get("url"),
        )
        for m in found:
            assert fields[m.field][m.start : m.end] == m.matched_text, (post["id"], m)
        spans = [(m.defender_id, m.field, m.start, m.end) for m in found]
        assert len(spans) == len(set(spans)), post["id"]
