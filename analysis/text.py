"""Text normalisation and near-duplicate grouping for copy-paste detection.

Copy-paste campaigns edit their texts just enough to defeat exact matching: an emoji, a
different @mention or link, a changed word, two words swapped. So texts are compared after
normalisation (NFKC, lower case, ``ё``→``е``, URLs and @mentions removed, ``#`` dropped from
hashtags, punctuation and emoji removed, white space collapsed) and, for near-duplicates, as
sets of word 1- and 2-grams ("shingles") whose Jaccard similarity is estimated by MinHash and
bucketed by LSH banding. Unigrams keep the similarity high when a few words change place;
bigrams keep unrelated texts built from the same common words apart.

Everything is vectorised over all texts at once (numpy), and nothing compares texts pairwise:
candidates come from LSH buckets, each document is only checked against its bucket's first
document, and groups are the connected components of the accepted links. Hashes are derived
from the texts themselves (pandas' fixed-key SipHash), never from input order, so the groups
are the same whichever order the posts arrive in. Cyrillic, Kazakh (ә ғ қ ң ө ұ ү һ і) and
Latin letters are all word characters here.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "normalize_text",
    "normalize_texts",
    "text_hashes",
    "near_duplicate_groups",
    "jaccard",
    "shingles",
]

# One pass: URLs, then @mentions, then any run of non-word characters (punctuation, emoji,
# '#', '_') become a space. At a given position the alternatives are tried in this order.
_STRIP_RE = re.compile(r"(?:https?://|www\.)\S+|(?<!\w)@[\w.\-]+|[^\w@]+|@|_+")

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def normalize_text(text: str) -> str:
    """The comparison form of one text (see module docstring)."""
    return normalize_texts(pd.Series([text]))[0]


_WORD_RE = re.compile(r"[^\W_]+")


_NFKC = unicodedata.normalize


def _normalize_one(text: str) -> str:
    text = _NFKC("NFKC", text).lower().replace("ё", "е")
    # already words separated by single spaces (str.isalnum is exactly the regex's [^\W_]):
    # nothing to strip, no regex needed
    if (
        text.replace(" ", "").isalnum()
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
    ):
        return text
    if "@" in text or "http" in text or "www." in text:
        return " ".join(_STRIP_RE.sub(" ", text).split())
    # nothing to strip but punctuation: collecting the words is 2-3x faster than substituting
    return " ".join(_WORD_RE.findall(text))


def _normalize_list(values: list) -> list[str]:
    return [_normalize_one(t) if isinstance(t, str) and t else "" for t in values]


def normalize_texts(texts: pd.Series) -> pd.Series:
    """Vectorised `normalize_text` over a Series; keeps the index."""
    out = _normalize_list(texts.to_numpy(dtype=object).tolist())
    return pd.Series(out, index=texts.index, dtype=object)


def text_hashes(values: pd.Series | np.ndarray) -> np.ndarray:
    """Stable 64-bit hashes of strings (fixed-key SipHash; same text, same hash, any run)."""
    arr = np.asarray(values, dtype=object)
    if not len(arr):
        return np.zeros(0, dtype=np.uint64)
    return pd.util.hash_array(arr, categorize=True)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser over a uint64 array (wrapping arithmetic)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def shingles(normalized: str) -> set[str]:
    """The shingle set of one normalised text: its words and its adjacent word pairs."""
    words = normalized.split()
    return set(words) | {f"{a} {b}" for a, b in zip(words, words[1:], strict=False)}


def jaccard(a: str, b: str) -> float:
    """Exact Jaccard similarity of two texts' shingle sets (for tests and explanations)."""
    sa, sb = shingles(normalize_text(a)), shingles(normalize_text(b))
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def _signatures(norm: pd.Series, num_perm: int, seed: int, chunk: int) -> np.ndarray:
    """MinHash signatures (n_docs x num_perm, uint32) of word 1+2-gram shingle sets."""
    n = len(norm)
    sig = np.empty((n, num_perm), dtype=np.uint32)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    for start in range(0, n, chunk):
        split = [t.split() for t in norm.iloc[start : start + chunk].tolist()]
        lengths = np.fromiter((len(w) for w in split), dtype=np.int64, count=len(split))
        doc = np.repeat(np.arange(len(split)), lengths)
        wh = text_hashes(
            np.fromiter(
                itertools.chain.from_iterable(split), dtype=object, count=int(lengths.sum())
            )
        )
        # bigram shingles: hash of the word pair, only where both words are in one document
        same = doc[1:] == doc[:-1]
        bh = _mix(wh[:-1] ^ (wh[1:] * np.uint64(0x9E3779B97F4A7C15)))[same]
        sh = np.concatenate([wh, bh])
        sd = np.concatenate([doc, doc[1:][same]])
        order = np.argsort(sd, kind="stable")
        sh, sd = sh[order], sd[order]
        starts = np.flatnonzero(np.r_[True, sd[1:] != sd[:-1]])
        x = (sh >> np.uint64(32)) ^ (sh & np.uint64(0xFFFFFFFF))
        for k in range(num_perm):
            h = ((a[k] * x + b[k]) >> np.uint64(32)).astype(np.uint32)
            sig[start : start + len(split), k] = np.minimum.reduceat(h, starts)
    return sig


def near_duplicate_groups(
    texts: pd.Series,
    *,
    threshold: float = 0.6,
    num_perm: int = 64,
    bands: int = 16,
    min_tokens: int = 5,
    seed: int = 1,
    chunk: int = 25_000,
    exact_only: bool = False,
) -> pd.DataFrame:
    """Group near-identical texts.

    Args:
        texts: raw texts, indexed by anything (e.g. post_pk).
        threshold: estimated Jaccard similarity of shingle sets needed to link two texts.
        num_perm, bands: MinHash size and LSH bands (rows per band = num_perm // bands). The
            defaults find pairs at Jaccard 0.6 with probability ~0.89 per band set, 0.7 ~0.99.
        min_tokens: shorter texts ("Позор!", "+1") are left out: identical short replies are
            everyday speech, not copy-paste.
        exact_only: skip MinHash; each group is one exact normalised text.

    Returns:
        A frame indexed like ``texts`` (only texts with at least ``min_tokens`` words) with
        ``norm`` (normalised text), ``exact_key`` (stable hash of the normalised text) and
        ``group_key`` (stable id of the near-duplicate group: the smallest exact key in it).
    """
    norm_list = _normalize_list(texts.to_numpy(dtype=object).tolist())
    ntok = np.fromiter(map(str.count, norm_list, itertools.repeat(" ")), np.int64, len(norm_list))
    ntok += np.fromiter(map(bool, norm_list), np.int64, len(norm_list))
    keep = ntok >= max(min_tokens, 1)
    values = np.empty(len(norm_list), dtype=object)
    values[:] = norm_list
    del norm_list
    values = values[keep]
    out = pd.DataFrame({"norm": values}, index=texts.index[keep])
    out["exact_key"] = text_hashes(values).astype(np.int64)
    if not len(out):
        out["group_key"] = pd.Series(dtype="int64")
        return out
    if exact_only:
        out["group_key"] = out["exact_key"]
        return out
    # Work on distinct texts only: identical copies are trivially one group.
    uniq = out.drop_duplicates("exact_key").sort_values("exact_key")
    n = len(uniq)
    keys = uniq["exact_key"].to_numpy()
    if n == 1:
        out["group_key"] = out["exact_key"]
        return out
    sig = _signatures(uniq["norm"], num_perm, seed, chunk)
    rows = num_perm // bands
    src_parts, dst_parts = [], []
    for band in range(bands):
        block = sig[:, band * rows : (band + 1) * rows].astype(np.uint64)
        h = np.full(n, np.uint64(band + 1), dtype=np.uint64)
        for c in range(rows):
            h = _mix(h ^ block[:, c])
        order = np.argsort(h, kind="stable")
        hs = h[order]
        run_start = np.r_[True, hs[1:] != hs[:-1]]
        head = order[np.maximum.accumulate(np.where(run_start, np.arange(n), 0))]
        member = ~run_start
        if member.any():
            src_parts.append(head[member])
            dst_parts.append(order[member])
    if src_parts:
        src = np.concatenate(src_parts)
        dst = np.concatenate(dst_parts)
        pairs = np.unique(np.stack([src, dst], axis=1), axis=0)
        src, dst = pairs[:, 0], pairs[:, 1]
        agree = np.empty(len(src), dtype=np.float64)
        step = 100_000
        for i in range(0, len(src), step):
            agree[i : i + step] = (sig[src[i : i + step]] == sig[dst[i : i + step]]).mean(axis=1)
        ok = agree >= threshold
        src, dst = src[ok], dst[ok]
    else:
        src = dst = np.zeros(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    # uniq is sorted by exact key, so the first key seen per label is the smallest
    label_key = pd.Series(keys).groupby(labels).min()
    group_of = pd.Series(label_key.to_numpy()[labels], index=keys)
    out["group_key"] = group_of.reindex(out["exact_key"].to_numpy()).to_numpy().astype(np.int64)
    return out
