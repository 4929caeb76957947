"""Property: exporting posts as JSONL and importing them into a fresh database gives the same
posts, whatever the text, tags, links and times (Cyrillic, Kazakh, emoji, RTL included)."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smearwatch.cli import cli

TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=80,
) | st.sampled_from(["Бахыт Орманова — грантоед!", "Орманованың ісі", "شكرا", "👍🏽 #тег", ""])
WORD = st.text(alphabet="abcйцукенқңғүұөәіһ_0123456789", min_size=1, max_size=12)


@st.composite
def records(draw):
    n = draw(st.integers(min_value=1, max_value=6))
    out = []
    base = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(n):
        created = base + timedelta(
            seconds=draw(st.integers(0, 30 * 86400)), microseconds=draw(st.integers(0, 999999))
        )
        author = draw(st.sampled_from(["a1", "a2", "a3"]))
        out.append(
            {
                "platform": draw(st.sampled_from(["bluesky", "telegram", "mastodon"])),
                "post_id": f"p{i}-{draw(WORD)}",
                "created_at": created.isoformat(),
                "author": {
                    "id": author,
                    "handle": draw(st.none() | WORD),
                    "display_name": draw(st.none() | TEXT),
                },
                "text": draw(TEXT),
                "lang": draw(st.none() | st.sampled_from(["ru", "kk", "en"])),
                "links": draw(
                    st.lists(
                        WORD.map(lambda w: f"https://Ex.org/{w}?utm_source=x&q={w}"),
                        max_size=3,
                        unique=True,
                    )
                ),
                "hashtags": draw(st.lists(WORD, max_size=3, unique=True)),
                "mentions": draw(st.lists(WORD, max_size=2, unique=True)),
                "reply_to": draw(st.none() | WORD),
                "raw": draw(st.none() | st.dictionaries(WORD, TEXT | st.integers(), max_size=3)),
            }
        )
    return out


def _run(db: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--database", db, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def _comparable(output: str) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k not in {"collector", "collected_at"}}
        for line in output.split("\n")
        if line
    ]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_jsonl_export_import_roundtrip(items) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        source = tmp / "in.jsonl"
        source.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in items), encoding="utf-8"
        )
        first_db, second_db = f"sqlite:///{tmp / 'a.db'}", f"sqlite:///{tmp / 'b.db'}"
        _run(first_db, "import", str(source))
        exported = tmp / "export.jsonl"
        _run(first_db, "export", "posts", "--out", str(exported))
        _run(second_db, "import", str(exported))
        first = _comparable(_run(first_db, "export", "posts"))
        second = _comparable(_run(second_db, "export", "posts"))
        assert first == second
        # and the export says what the input said
        by_id = {(r["platform"], r["post_id"]): r for r in items}
        for post in first:
            original = by_id[(post["platform"], post["post_id"])]
            assert post["text"] == original["text"]
            assert post["links"] == original["links"]
            assert post["hashtags"] == [h.lower() for h in original["hashtags"]]
