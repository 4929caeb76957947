"""The shareable variant's handle replacer: a prefix tree, the same matches as the plain list."""

from __future__ import annotations

import random
import re

from reports.variants import _label, _replacer


def test_trie_replacer_equals_longest_first_alternation() -> None:
    rng = random.Random(6)
    names = {"patriot01kz.bsky.social", "patriot01kz", "patriot01", "did:plc:patriot01kz"}
    names |= {"did:plc:p", "a.b", "ab", "kesler.friend1", "kesler.friend10", "ivan", "x-y_z"}
    names |= {f"user{rng.randrange(500)}.example" for _ in range(300)}
    handles = {n: f"<{n.upper()}>" for n in names}
    trie = _replacer(handles)
    plain = re.compile(
        "|".join(re.escape(n) for n in sorted(handles, key=len, reverse=True)), re.IGNORECASE
    )
    pool = sorted(names)
    texts = ["", "ıvan İVAN ſ K", "@PATRIOT01KZ.BSKY.SOCIAL, patriot01kzz did:plc:patriot01k"]
    for _ in range(2000):
        parts = []
        for _ in range(rng.randrange(1, 6)):
            name = rng.choice(pool)
            cut = rng.randrange(len(name) + 1)
            parts.append(rng.choice([name, name.upper(), name[:cut], name[cut:], "ı", "ſ", "K"]))
            parts.append(rng.choice(["", " ", ".", "@", "x", "-"]))
        texts.append("".join(parts))

    def replace(m: re.Match[str]) -> str:
        return _label(handles, m.group(0))

    assert trie is not None and trie.pattern != plain.pattern
    for text in texts:
        assert trie.sub(replace, text) == plain.sub(replace, text), text


def test_non_ascii_names_keep_the_plain_alternation() -> None:
    pattern = _replacer({"ıvan": "A", "ivan": "B"})
    assert pattern is not None and pattern.pattern == "ıvan|ivan"


def test_names_matched_through_special_case_folding_get_their_label() -> None:
    handles = {"ivan.bsky.social": "A-1", "sokol": "A-2"}
    pattern = _replacer(handles)
    assert pattern is not None
    found = pattern.sub(
        lambda m: _label(handles, m.group(0)), "ıvan.bsky.socıal ſokol İVAN.BSKY.SOCIAL"
    )
    assert found == "A-1 A-2 A-1"
