"""Meta platforms: Meta Content Library CSV and legacy CrowdTangle CSV (Facebook, Instagram).

MCL columns are dot-flattened API fields (`id`, `creation_time`, `text`, `post_owner.id`, ...).
CrowdTangle (shut down in 2024, but archives remain) has no post id column: the id is taken
from the post URL (`<page id>_<post number>` for Facebook, the shortcode for Instagram), and
times carry a zone abbreviation of the dashboard (`2024-03-01 16:00:03 EST`).
"""

from __future__ import annotations

import re
from typing import Any

from collector.formats.base import RowReader, csv_header
from collector.formats.fields import cell, make_post, need, time_of
from collector.post import Post

__all__ = ["CrowdTangleFacebookReader", "CrowdTangleInstagramReader", "MetaContentLibraryReader"]

_FB_POST = re.compile(r"/(?:posts|videos|photos|permalink)/(?:[^/]+/)?(?:[a-z.]+\.)?(\d+)")
_IG_CODE = re.compile(r"instagram\.com/(?:[^/]+/)?(?:p|reel|tv)/([A-Za-z0-9_-]+)")


class MetaContentLibraryReader(RowReader):
    name = "meta-content-library"
    description = "Meta Content Library CSV (id, creation_time, text, post_owner.id, ...)"
    required = ("id", "creation_time", "post_owner.id")

    def sniff(self, head: str, filename: str) -> bool:
        columns = csv_header(head)
        return {"id", "creation_time", "post_owner.id"} <= columns

    def posts(self, row: Any) -> list[Post]:
        platform = self.options.get("platform") or (
            "instagram" if "instagram" in (cell(row, "mcl_url") or "") else "facebook"
        )
        links = [cell(row, "link_attachment.link")]
        record = {
            "platform": platform,
            "post_id": need(row, "id"),
            "url": cell(row, "url") or cell(row, "mcl_url"),
            "created_at": time_of(need(row, "creation_time"), "creation_time").isoformat(),
            "author": {
                "id": need(row, "post_owner.id"),
                "handle": cell(row, "post_owner.username"),
                "display_name": cell(row, "post_owner.name"),
            },
            "text": row.get("text") or "",
            "lang": cell(row, "lang"),
            "links": [link for link in links if link],
            "repost_of": cell(row, "shared_post_id"),
        }
        return [make_post(record, row)]


class CrowdTangleFacebookReader(RowReader):
    name = "crowdtangle-facebook"
    description = "CrowdTangle Facebook CSV (Page Name, Facebook Id, Post Created, URL, ...)"
    required = ("Facebook Id", "Post Created", "URL")

    def sniff(self, head: str, filename: str) -> bool:
        return {"Facebook Id", "Post Created", "URL", "Page Name"} <= csv_header(head)

    def posts(self, row: Any) -> list[Post]:
        page_id = need(row, "Facebook Id")
        url = need(row, "URL")
        match = _FB_POST.search(url)
        post_id = f"{page_id}_{match.group(1)}" if match else url
        links = [cell(row, "Link"), cell(row, "Final Link")]
        record = {
            "platform": "facebook",
            "post_id": post_id,
            "url": url,
            "created_at": time_of(
                need(row, "Post Created"), "Post Created", self.options.get("timezone")
            ).isoformat(),
            "author": {
                "id": page_id,
                "handle": cell(row, "User Name"),
                "display_name": cell(row, "Page Name"),
            },
            "text": row.get("Message") or "",
            "links": list(dict.fromkeys(link for link in links if link)),
        }
        return [make_post(record, row, type=cell(row, "Type"))]


class CrowdTangleInstagramReader(RowReader):
    name = "crowdtangle-instagram"
    description = "CrowdTangle Instagram CSV (Account, User Name, Post Created, URL, ...)"
    required = ("User Name", "Post Created", "URL")

    def sniff(self, head: str, filename: str) -> bool:
        columns = csv_header(head)
        return {"Account", "User Name", "Post Created", "URL"} <= columns and (
            "Facebook Id" not in columns
        )

    def posts(self, row: Any) -> list[Post]:
        url = need(row, "URL")
        match = _IG_CODE.search(url)
        user = need(row, "User Name").lstrip("@")
        link = cell(row, "Link")
        record = {
            "platform": "instagram",
            "post_id": match.group(1) if match else url,
            "url": url,
            "created_at": time_of(
                need(row, "Post Created"), "Post Created", self.options.get("timezone")
            ).isoformat(),
            "author": {"id": user.lower(), "handle": user, "display_name": cell(row, "Account")},
            "text": row.get("Description") or "",
            "links": [link] if link and link != url else [],
        }
        return [make_post(record, row, type=cell(row, "Type"))]
