"""Mentions are stored with the posts, and re-matched when the defenders change."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from smearwatch.cli import cli

POSTS = [
    ("p1", "Бахыт Ормановой снова отказали в суде"),
    ("p2", "Орманованың ісі бойынша сот өтті"),
    ("p3", "Weather in Almaty is terrible"),
    ("p4", "Адвокат Кеслер выступила в защиту активистов"),
]


def _config(tmp_path: Path, db_url: str, aliases: list[str]) -> Path:
    path = tmp_path / "smearwatch.toml"
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        '[[defenders]]\nid = "ormanova"\nname = "Bakhyt Ormanova"\n'
        f"aliases = {json.dumps(aliases, ensure_ascii=False)}\n",
        encoding="utf-8",
    )
    return path


def _posts_file(tmp_path: Path) -> Path:
    path = tmp_path / "posts.jsonl"
    lines = [
        json.dumps(
            {
                "platform": "telegram",
                "post_id": f"chan/{pid}",
                "created_at": "2026-11-20T10:00:00Z",
                "author": {"id": "chan"},
                "text": text,
            },
            ensure_ascii=False,
        )
        for pid, text in POSTS
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _mentions(config: Path) -> list[dict[str, str]]:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "export", "mentions", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.stdout)))


def test_import_stores_mentions_and_config_change_rematches(db_url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, db_url, ["Бахыт Орманова", "Орманова"])
    result = CliRunner().invoke(
        cli, ["--config", str(config), "import", str(_posts_file(tmp_path))]
    )
    assert result.exit_code == 0, result.output
    assert "defender mentions found 2" in result.stdout
    rows = _mentions(config)
    assert {(r["post_id"], r["defender_id"]) for r in rows} == {
        ("chan/p1", "ormanova"),
        ("chan/p2", "ormanova"),
    }
    first = next(r for r in rows if r["post_id"] == "chan/p1")
    assert first["matched_text"] == "Бахыт Ормановой"
    assert first["alias"] == "Бахыт Орманова"
    text = dict(POSTS)["p1"]
    assert text[int(first["start"]) : int(first["end"])] == first["matched_text"]

    # A second defender appears in the config: stored posts are matched again.
    config.write_text(
        config.read_text(encoding="utf-8")
        + '\n[[defenders]]\nid = "kesler"\nname = "Anna Kesler"\n'
        + 'aliases = ["Анна Кеслер", "Кеслер"]\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert result.exit_code == 0, result.output
    assert "Matched 4 stored posts" in result.stderr
    rows = _mentions(config)
    assert ("chan/p4", "kesler") in {(r["post_id"], r["defender_id"]) for r in rows}
    # unchanged config: no second re-match
    result = CliRunner().invoke(cli, ["--config", str(config), "status"])
    assert "Matched" not in result.stderr
