"""Screenshots of the web interface for the README, made from the bundled demo data.

Usage (from the repository root): .venv/bin/python docs/screenshots/take.py
Runs `smearwatch demo` into a temporary folder, serves it on 127.0.0.1 and photographs the
main pages with Debian's Chromium; the PNGs are reduced to 256 colours to stay small.
"""

from __future__ import annotations

import io
import re
import sys
import tempfile
from pathlib import Path

from PIL import Image
from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from db.engine import open_database  # noqa: E402
from smearwatch.config import load_config  # noqa: E402
from smearwatch.demo import DEMO_WEEK, run_demo  # noqa: E402
from smearwatch.reporting import report_inputs  # noqa: E402
from smearwatch.web import WebSettings, create_app  # noqa: E402
from tests.smearwatch.web.browser import chromium, running  # noqa: E402

OUT = Path(__file__).resolve().parent
WIDTH = 1280
MAX_HEIGHT = 2000


def shoot(driver, url: str, name: str, height: int | None = None) -> None:
    driver.set_window_size(WIDTH, 600)  # so the page's height is its own, not the last one's
    driver.get(url)
    driver.execute_async_script("document.fonts.ready.then(arguments[0])")
    full = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(WIDTH, min(height or full, MAX_HEIGHT))
    driver.execute_async_script("document.fonts.ready.then(arguments[0])")
    png = driver.get_screenshot_as_png()
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    image.save(OUT / name, optimize=True)
    print(f"{name}: {(OUT / name).stat().st_size:,} bytes")  # noqa: T201


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="smearwatch-shots-") as tmp:
        config_path, _, _ = run_demo(Path(tmp) / "demo", Console(file=io.StringIO()))
        config = load_config(config_path)
        engine = open_database(config.database_url)
        app = create_app(engine, WebSettings(inputs=report_inputs(config), reviewer="analyst"))
        with running(app) as base, chromium(WIDTH, 900) as driver:
            shoot(driver, f"{base}/week/{DEMO_WEEK}", "week.png")
            shoot(driver, f"{base}/clusters", "clusters.png", 700)
            shoot(driver, f"{base}/clusters/C1", "cluster.png")
            page = driver.page_source
            evidence = re.search(r'href="/posts/(E-[0-9A-F]+)"', page).group(1)
            shoot(driver, f"{base}/posts/{evidence}", "post.png")
            shoot(driver, f"{base}/posts?q=%D0%B0%D0%B3%D0%B5%D0%BD%D1%82", "posts.png", 1100)
        engine.dispose()


if __name__ == "__main__":
    main()
