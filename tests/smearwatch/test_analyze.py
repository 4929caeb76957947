"""The analysis job end to end on the demo data: stored runs, stable ids, exports."""

from __future__ import annotations

import csv
import io
import json
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from db import models
from db.engine import open_database
from smearwatch.analyze import run_analysis
from smearwatch.cli import cli
from smearwatch.config import ConfigError, load_config


def _demo_config(tmp_path: Path, db_url: str, extra: str = "") -> Path:
    text = resources.files("smearwatch.demo_data").joinpath("demo.toml").read_text("utf-8")
    text = text.replace('url = "sqlite:///smearwatch-demo.db"', f'url = "{db_url}"')
    path = tmp_path / "smearwatch.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def _import_demo(config: Path) -> None:
    with resources.as_file(
        resources.files("smearwatch.demo_data").joinpath("posts.jsonl.gz")
    ) as posts:
        result = CliRunner().invoke(cli, ["--config", str(config), "import", str(posts)])
    assert result.exit_code == 0, result.output


def test_analyze_finds_the_planted_campaign_and_keeps_its_id(db_url: str, tmp_path: Path) -> None:
    config = _demo_config(tmp_path, db_url)
    _import_demo(config)
    args = ["--config", str(config), "analyze", "--since", "2026-11-09", "--until", "2026-11-23"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "1 coordinated cluster(s)" in result.stdout
    assert "hostile" in result.stdout and "Bakhyt Ormanova" in result.stdout

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0
    engine = open_database(load_config(config).database_url)
    with engine.connect() as connection:
        runs = connection.execute(select(models.AnalysisRun.status)).scalars().all()
        ids = connection.execute(select(models.Cluster.stable_id)).scalars().all()
        evidence = connection.execute(
            select(func.count()).select_from(models.ClusterEvidence)
        ).scalar_one()
        edges = connection.execute(
            select(func.count()).select_from(models.CoordinationEdge)
        ).scalar_one()
    engine.dispose()
    assert runs == ["ok", "ok"]
    assert ids == ["C1", "C1"]  # the same cluster keeps its name in the second run
    assert evidence > 0 and edges > 0

    result = CliRunner().invoke(
        cli, ["--config", str(config), "export", "clusters", "--format", "csv"]
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # 20 of the 24 planted accounts: each act counts once (analysis.coordination), and a
    # few trolls met the others on too few waves to stand out from chance
    assert len(rows) == 20
    assert {r["cluster_id"] for r in rows} == {"C1"}
    assert all(r["stance"] == "hostile" and r["defender_id"] == "ormanova" for r in rows)
    # the planted accounts, not the organic ones that shared the viral link
    assert all(
        r["handle"].split(".")[0].rstrip("0123456789")
        in {"patriot_kz", "nurlan", "qazaq_eli", "aibek", "true_kz"}
        for r in rows
    )


def test_unknown_analysis_key_is_a_config_error(tmp_path: Path) -> None:
    config = _demo_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    text = config.read_text(encoding="utf-8").replace(
        "min_repetitions = 2", "min_repetitions = 2\nwindow_secs = 5"
    )
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="window_secs"):
        run_analysis(open_database(load_config(config).database_url), load_config(config))


def test_failed_run_is_recorded(tmp_path: Path) -> None:
    config = _demo_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}", "")
    text = config.read_text(encoding="utf-8").replace(
        "min_repetitions = 2", "min_repetitions = 2\nmin_cluster_size = 'three'"
    )
    config.write_text(text, encoding="utf-8")
    _import_demo(config)
    loaded = load_config(config)
    engine = open_database(loaded.database_url)
    with pytest.raises(Exception):  # noqa: B017 - whatever the engine raises on a bad value
        run_analysis(engine, loaded)
    with engine.connect() as connection:
        run = connection.execute(select(models.AnalysisRun)).one()
    engine.dispose()
    assert run.status == "failed" and run.error


def test_review_and_network_export(db_url: str, tmp_path: Path) -> None:
    import networkx as nx

    config = _demo_config(tmp_path, db_url)
    _import_demo(config)
    base = ["--config", str(config)]
    result = CliRunner().invoke(
        cli, [*base, "analyze", "--since", "2026-11-09", "--until", "2026-11-23"]
    )
    assert result.exit_code == 0, result.output

    def stored_score() -> float:
        engine = open_database(load_config(config).database_url)
        with engine.connect() as connection:
            value = connection.execute(select(models.Cluster.score)).scalars().first()
        engine.dispose()
        return value

    before = stored_score()
    result = CliRunner().invoke(
        cli,
        [*base, "review", "C1", "--confirm", "--note", "batch-created, same texts",
         "--reviewer", "ak", "--confidence", "high"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "confirmed (by ak, confidence high): batch-created, same texts" in result.stdout
    result = CliRunner().invoke(cli, [*base, "review", "C1", "--dismiss", "--note", "second look"])
    assert result.exit_code == 0
    engine = open_database(load_config(config).database_url)
    with engine.connect() as connection:
        verdicts = connection.execute(select(models.Review.verdict)).scalars().all()
    engine.dispose()
    assert verdicts == ["confirmed", "dismissed"]  # history kept, newest last
    assert stored_score() == before  # a verdict never touches the automated score
    result = CliRunner().invoke(cli, [*base, "review", "C99", "--confirm"])
    assert result.exit_code == 1 and "no cluster 'C99'" in result.stderr

    for fmt, reader in (("gexf", nx.read_gexf), ("graphml", nx.read_graphml)):
        out = tmp_path / f"network.{fmt}"
        result = CliRunner().invoke(cli, [*base, "export", "network", "--out", str(out)])
        assert result.exit_code == 0, result.output
        graph = reader(out)
        assert graph.number_of_nodes() == 20  # the flagged planted accounts (see above)
        assert graph.number_of_edges() > 100
        _, _, data = next(iter(graph.edges(data=True)))
        assert data["cluster"] == "C1" and data["shared_objects"] >= 2 and "excess" in data


def test_analyze_says_when_the_null_model_had_nothing_to_compare_with(tmp_path: Path) -> None:
    """A window made only of one network's retweets: the run says chance had no baseline."""
    lines = []
    for k in range(12):
        for i in range(8):
            stamp = f"2026-11-20T{10 + k // 6:02d}:{(k % 6) * 10:02d}:{3 * i:02d}Z"
            record = {
                "platform": "bluesky",
                "post_id": f"at://did:plc:net{i}/app.bsky.feed.repost/rt{k}",
                "created_at": stamp,
                "author": {"id": f"did:plc:net{i}", "handle": f"net{i}.bsky.social"},
                "text": "",
                "repost_of": f"at://did:plc:src/app.bsky.feed.post/{k}",
            }
            lines.append(json.dumps(record))
    posts = tmp_path / "network.jsonl"
    posts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = _demo_config(tmp_path, f"sqlite:///{tmp_path / 'thin.db'}")
    result = CliRunner().invoke(cli, ["--config", str(config), "import", str(posts)])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        cli, ["--config", str(config), "analyze", "--since", "2026-11-20", "--until", "2026-11-21"]
    )
    assert result.exit_code == 0, result.output
    assert "0 coordinated cluster(s)" in result.stdout
    assert "The null model had nothing to compare with" in " ".join(result.stdout.split())
    engine = open_database(load_config(config).database_url)
    with engine.connect() as connection:
        stats = connection.execute(select(models.AnalysisRun.stats)).scalar_one()
    engine.dispose()
    assert stats["background"]["thin"] is True
