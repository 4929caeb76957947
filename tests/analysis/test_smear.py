from __future__ import annotations

import re

import pandas as pd
import pytest

from analysis.smear import _term_regex, classify_texts, load_vocabulary, stance_of
from analysis.text import normalize_text


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def test_vocabulary_has_version_and_hash(vocab):
    assert vocab.version and len(vocab.sha256) == 64
    assert {"foreign_agent", "grant_eater", "traitor", "extremist", "enemy_of_the_people"} <= set(
        vocab.hostile
    )
    assert vocab.supportive


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("Орманова — иностранного агента сразу видно", "foreign_agent"),
        ("очередная грантоедка Орманова", "grant_eater"),
        ("#Грантоеды опять вышли", "grant_eater"),
        ("Темирханов шетелдік агент", "foreign_agent"),
        ("ол сатқын ғой", "traitor"),
        ("Kesler is a foreign agent", "foreign_agent"),
        ("paid by Soros, as always", "foreign_money"),
        ("враги народа не дремлют", "enemy_of_the_people"),
        ("халық жауы", "enemy_of_the_people"),
        ("он вор и мошенник", "criminal"),
        ("ЭКСТРЕМИСТКА!!!", "extremist"),
    ],
)
def test_smear_terms_match_inflected_forms(vocab, text, category):
    out = classify_texts(pd.Series([text]), vocab)
    assert bool(out.loc[0, category]) and bool(out.loc[0, "smear"])


@pytest.mark.parametrize(
    "text",
    [
        "открыли ворота нового парка",  # "вор$" must not match "ворота"
        "правозащитница рассказала о работе",
        "Бүгін ауа райы жақсы",
        "",
    ],
)
def test_ordinary_texts_are_not_smears(vocab, text):
    assert not classify_texts(pd.Series([text]), vocab).loc[0, "smear"]


@pytest.mark.parametrize(
    "text",
    [
        "Свободу Бахыт Ормановой!",
        "Біз қолдаймыз, Ерлан!",
        "We stand with Anna Kesler",
        "#FreeOrmanova",
    ],
)
def test_support_vocabulary(vocab, text):
    out = classify_texts(pd.Series([text]), vocab)
    assert out.loc[0, "supportive"] and not out.loc[0, "smear"]


@pytest.mark.parametrize(
    ("smear", "support", "stance"),
    [
        (0.8, 0.0, "hostile"),
        (0.0, 0.9, "supportive"),
        (0.4, 0.4, "unclear"),
        (0.1, 0.05, "unclear"),
        (0.3, 0.15, "hostile"),
        (0.1, 0.5, "supportive"),
    ],
)
def test_stance(smear, support, stance):
    assert stance_of(smear, support) == stance


def test_custom_vocabulary_file(tmp_path):
    path = tmp_path / "v.toml"
    path.write_text(
        'version = "t1"\n[hostile]\nx = ["бяка"]\n[supportive]\ny = ["ура"]\n', encoding="utf-8"
    )
    v = load_vocabulary(path)
    out = classify_texts(pd.Series(["бяками", "ура!"]), v)
    assert out["smear"].tolist() == [True, False]
    assert out["supportive"].tolist() == [False, True]
    assert v.version == "t1"


def test_vocabulary_without_version_is_refused(tmp_path):
    path = tmp_path / "v.toml"
    path.write_text('[hostile]\nx = ["a"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="version"):
        load_vocabulary(path)


def test_a_category_matches_where_one_of_its_terms_matches_at_a_word_start(tmp_path):
    # the word-start test is written once per category (analysis.smear._category_regex),
    # not once per term: the category must match exactly the texts that one of its terms,
    # each with its own word-start test, matches
    terms = ["вор$", "иностран агент", "грантоед", "foreign agent", "x-y"]
    path = tmp_path / "v.toml"
    listed = ", ".join(f'"{t}"' for t in terms)
    path.write_text(f'version = "t1"\n[hostile]\nc = [{listed}]\n', encoding="utf-8")
    texts = [
        "вор",
        "он вор и мошенник",
        "ворота",
        "невор",
        "_вор",
        "9вор",
        "иностранного   агента",
        "неиностранный агент",
        "грантоеды опять",
        "супергрантоед",
        "a foreign agents list",
        "x y",
        "ax y",
        "",
    ]
    one_by_one = [
        any(re.search(r"(?<!\w)" + _term_regex(t), normalize_text(text)) for t in terms)
        for text in texts
    ]
    got = classify_texts(pd.Series(texts), load_vocabulary(path))["c"].tolist()
    assert got == one_by_one
    assert got == [bool(c) for c in (1, 1, 0, 0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 0)]
