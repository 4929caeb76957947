"""The shareable variant: the same report with attacking accounts pseudonymised.

Rules, applied to a deep copy of the internal report:
- every account in a cluster shown this week gets a keyed pseudonym (`reports.pseudonym`)
  in place of its handle, platform id and display name;
- bystanders (authors who are in no cluster) are removed: their posts are not quoted, listed
  or counted in the annex;
- in quoted text, handles of cluster accounts become their pseudonyms, other @handles and
  profile links become "[account]", and e-mail addresses, phone, IBAN and ID numbers are masked;
- post URLs and platform post ids are withheld (they contain handles); the evidence id and
  SHA-256 stay, so anyone with the internal report can match every row.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from reports.model import WeekReport
from reports.pseudonym import Pseudonymiser
from reports.text import mask_personal_data

__all__ = ["make_shareable"]

TRIE_MAX_LEN = 300  # longer names (none are) keep the plain alternation: no deep nesting
_AT_HANDLE = re.compile(r"@[\w.\-]+")
_PROFILE = re.compile(r"(https?://)?(bsky\.app/profile|t\.me|mastodon\.[\w.]+/@?)/?[^\s/]+", re.I)


# characters that `re.IGNORECASE` matches to an ASCII letter but `str.lower()` does not map to it
_FOLD = str.maketrans({"İ": "i", "ı": "i", "ſ": "s", "\u212a": "k"})


def _label(handles: dict[str, str], matched: str) -> str:
    """The pseudonym for a name found case-insensitively ("ıvan" found by "ivan" too)."""
    return handles.get(matched.lower()) or handles.get(
        matched.translate(_FOLD).lower(), "[account]"
    )


def _replacer(handles: dict[str, str]) -> re.Pattern[str] | None:
    """A pattern that finds, at the leftmost place, the longest of the names (any case)."""
    if not handles:
        return None
    names = sorted(handles, key=len, reverse=True)
    if all(n.isascii() and len(n) <= TRIE_MAX_LEN for n in names):
        return re.compile(_trie(names), re.IGNORECASE)
    return re.compile("|".join(re.escape(n) for n in names), re.IGNORECASE)


def _trie(names: list[str]) -> str:
    """The names as a prefix tree: `re` tries one branch per character instead of every name.

    The same matches as the plain alternation of the names, longest first: for lowercase
    ASCII names no character matches two different branch letters, even case-insensitively,
    so the walk is deterministic, and the greedy optional groups prefer the longest name.
    """
    root: dict[str, Any] = {}
    for name in names:
        node = root
        for char in name:
            node = node.setdefault(char, {})
        node[""] = {}

    def pattern(node: dict[str, Any]) -> str:
        branches = [re.escape(c) + pattern(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        if len(branches) == 1 and "" not in node:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if "" in node else group

    return pattern(root)


def make_shareable(report: WeekReport, pseudonymiser: Pseudonymiser) -> WeekReport:
    """A pseudonymised copy of `report` safe to share beyond the organisation."""
    # edges hold only account keys and numbers, which stay as they are: shared, not copied
    memo: dict[int, Any] = {id(c.edges): c.edges for c in report.clusters}
    shared = copy.deepcopy(report, memo)
    shared.variant = "shareable"
    labels: dict[int, str] = {}
    handles: dict[str, str] = {}
    for cluster in shared.clusters:
        for account in cluster.accounts:
            label = pseudonymiser.account(account.platform, account.platform_id)
            labels[account.account_pk] = label
            for name in (account.handle, account.platform_id):
                if name:
                    handles[name.lower()] = label
                    short = name.split(".")[0]
                    if len(short) >= 5 and "." in name:
                        handles.setdefault(short.lower(), label)
    pattern = _replacer(handles)

    def scrub(text: str, evidence_id: str | None = None) -> str:
        text = mask_personal_data(text, evidence_id)  # first: e-mail addresses contain "@"
        if pattern is not None:
            text = pattern.sub(lambda m: _label(handles, m.group(0)), text)
        text = _PROFILE.sub("[account]", text)
        text = _AT_HANDLE.sub(lambda m: m.group(0) if m.group(0)[1:] in labels.values()
                              else "@[account]", text)  # fmt: skip
        return text

    shared.pseudonyms = labels
    kept = []
    for row in shared.evidence:
        if row.account_pk not in labels:
            continue
        row.handle = labels[row.account_pk]
        row.author_id = labels[row.account_pk]
        row.url = None
        row.post_id = "[withheld]"
        row.text = scrub(row.text, row.evidence_id)
        kept.append(row)
    shared.evidence = kept
    kept_ids = {row.evidence_id for row in kept}
    for cluster in shared.clusters:
        for account in cluster.accounts:
            account.handle = labels[account.account_pk]
            account.platform_id = labels[account.account_pk]
            account.display_name = None
            account.signals = {}
        cluster.cited = [e for e in cluster.cited if e in kept_ids]
        cluster.explanation = [scrub(s) for s in cluster.explanation]
        cluster.alternatives = [scrub(s) for s in cluster.alternatives]
        if cluster.review and cluster.review.get("note"):
            cluster.review = dict(cluster.review, note=scrub(str(cluster.review["note"])))
        for narrative in cluster.narratives:
            narrative.representative_text = scrub(narrative.representative_text)
            narrative.examples = [e for e in narrative.examples if e.evidence_id in kept_ids]
            for example in narrative.examples:
                example.handle = labels[example.account_pk]
                example.text = scrub(example.text, example.evidence_id)
        for obj in cluster.evidence:
            obj.display = scrub(obj.display)
            obj.posts = [
                dict(p, handle=labels.get(p.get("account_pk", -1), "[account]"), post_id=None)
                for p in obj.posts
                if p["evidence_id"] in kept_ids
            ]
    for finding in shared.findings:
        finding.evidence_ids = [e for e in finding.evidence_ids if e in kept_ids]
    return shared
