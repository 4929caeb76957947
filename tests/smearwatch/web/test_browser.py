"""End to end in a real browser: log in, the week, a cluster, confirm it, a cited post,
verify it, search. Runs Debian's Chromium (never skipped under CI)."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from db import models
from smearwatch.web import WebSettings, create_app
from tests.smearwatch.web.browser import browser_missing, chromium, running
from tests.smearwatch.web.conftest import PASSWORD, WebWorld, make_user


@pytest.fixture
def browser_ready() -> None:
    missing = browser_missing()
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(missing + " (CI is set: .ci/run must install it)")
    pytest.skip(missing)


def test_analyst_flow_in_chromium(sqlite_web: WebWorld, browser_ready: None) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    make_user(sqlite_web, "amina")
    settings = WebSettings(inputs=sqlite_web.world.inputs, require_login=True)
    app = create_app(sqlite_web.engine, settings)
    with running(app) as base, chromium() as driver:
        find = driver.find_element

        # log in: any page sends the browser to the login form first
        driver.get(base + "/")
        assert "/login" in driver.current_url
        find(By.NAME, "name").send_keys("amina")
        find(By.NAME, "password").send_keys(PASSWORD)
        find(By.CSS_SELECTOR, "form button[type=submit]").click()

        # the week
        assert driver.current_url.endswith("/week/2026-W47"), driver.page_source[-1500:]
        assert "Week 2026-W47" in find(By.TAG_NAME, "h1").text
        assert "amina" in find(By.CSS_SELECTOR, "header .who").text
        daily = find(By.CSS_SELECTOR, "img.chart")
        assert driver.execute_script("return arguments[0].naturalWidth", daily) > 100

        # a cluster: the new one listed under "New and growing clusters"
        find(By.LINK_TEXT, "C1").click()
        assert "Cluster C1" in find(By.TAG_NAME, "h1").text
        picture = find(By.CSS_SELECTOR, "img.network")
        assert driver.execute_script("return arguments[0].naturalWidth", picture) > 100

        # confirm it with a note
        find(By.CSS_SELECTOR, "input[name=verdict][value=confirmed]").click()
        find(By.NAME, "note").send_keys("Batch-created accounts, same texts — проверено")
        find(By.CSS_SELECTOR, "form.review button[type=submit]").click()
        assert "Verdict recorded." in find(By.CSS_SELECTOR, "p.ok").text
        assert "проверено" in find(By.CSS_SELECTOR, "ul.history").text
        with sqlite_web.engine.connect() as connection:
            review = connection.execute(select(models.Review.__table__)).one()
        assert (review.stable_id, review.verdict, review.reviewer) == ("C1", "confirmed", "amina")

        # a cited post: the first evidence post of the first shared object
        link = find(By.CSS_SELECTOR, ".object table a.mono")
        evidence_id = link.text
        link.click()
        assert evidence_id in find(By.TAG_NAME, "h1").text

        # verify it
        find(By.XPATH, "//button[contains(., 'Verify payload hashes')]").click()
        assert "Verified" in find(By.ID, "verified").text

        # search
        find(By.LINK_TEXT, "Posts & evidence").click()
        box = find(By.NAME, "q")
        box.send_keys("исправленный")
        box.submit()
        rows = driver.find_elements(By.CSS_SELECTOR, "table.posts tbody tr")
        assert len(rows) == 1 and sqlite_web.edited_evidence in rows[0].text

        # hostile markup stays text: no script ran, no element was injected
        driver.get(f"{base}/posts/{sqlite_web.hostile_evidence}")
        assert '<script>alert("pwned")</script>' in find(By.CSS_SELECTOR, ".posttext").text
        assert (
            driver.execute_script("return document.querySelectorAll('script, iframe').length") == 0
        )
        assert driver.execute_script("return document.querySelectorAll('img').length") == 0
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 - raises when no alert() ran

        # log out: the pages need a login again
        find(By.CSS_SELECTOR, "header .who button").click()
        driver.get(base + "/clusters")
        assert "/login" in driver.current_url
