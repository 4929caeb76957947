"""The shell builds the report's plain inputs from the config; reports/ never reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from smearwatch.config import ConfigError, load_config
from smearwatch.reporting import report_inputs

CONFIG = """
[database]
url = "sqlite:///{db}"

[analysis]
window_seconds = 90
min_repetitions = 3

[reports]
min_score = 55
{extra}

[[defenders]]
id = "ormanova"
name = "Bakhyt Ormanova"
aliases = ["Орманова"]

[[sources]]
name = "news"
platform = "rss"
feeds = ["https://news.example/feed.xml"]
every = "2h"
"""


def _config(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "smearwatch.toml"
    path.write_text(CONFIG.format(db=tmp_path / "x.db", extra=extra), encoding="utf-8")
    return path


def test_inputs_carry_what_the_report_needs(tmp_path: Path) -> None:
    inputs = report_inputs(load_config(_config(tmp_path)))
    assert inputs.defenders == (("ormanova", "Bakhyt Ormanova"),)
    assert [(s.name, s.platform, s.every_seconds) for s in inputs.sources] == [
        ("news", "rss", 7200)
    ]
    assert (inputs.window_seconds, inputs.min_repetitions) == (90, 3)
    assert inputs.settings.min_score == 55
    assert inputs.base_dir == tmp_path
    assert inputs.key_path() == tmp_path / "report.key"  # beside the SQLite file
    inputs.check_defender("ormanova")
    with pytest.raises(ValueError, match="known: ormanova"):
        inputs.check_defender("nobody")


def test_unknown_reports_key_is_a_config_error(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'min_scroe = 3\nkey_file = "k/report.key"'))
    with pytest.raises(ConfigError, match=r"\[reports\] unknown key\(s\) min_scroe"):
        report_inputs(config)


def test_key_file_relative_to_the_config(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, 'key_file = "keys/report.key"'))
    assert report_inputs(config).key_path() == tmp_path / "keys" / "report.key"
