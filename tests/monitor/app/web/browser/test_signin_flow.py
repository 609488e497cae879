"""The console end to end in a real browser (Debian's chromium, headless) against a real
``coldwatch run`` reading a Modbus freezer, with users made by ``coldwatch user add``: sign in,
see who is signed in, a wrong password refused, the users page for the admin, sign out; and
axe-core finds no serious or critical accessibility violation on any page.

The alarm flow (a warm freezer, the signed acknowledgement, QA on the audit page) and the
accessibility of the alarm's page and the audit page with entries on them are in
``test_alarm_flow.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.browser import (
    ADMIN,
    ADMIN_NAME,
    ADMIN_PASSWORD,
    TECH,
    TECH_NAME,
    TECH_PASSWORD,
    Console,
    axe_violations,
    check_accessibility,
    sign_in,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.asyncio(loop_scope="session")]

#: Every page of the console a signed-in admin can open (the alarm's own page and /audit, for
#: QA, are checked with an alarm and a signed entry on them in test_alarm_flow.py).
PAGES = ["/", "/account", "/users", "/alarms"]


async def test_sign_in_shows_who_and_sign_out_ends_the_session(console: Console, page: Any) -> None:
    await sign_in(page, console.url, TECH, TECH_PASSWORD)
    assert page.url == console.url
    who = page.get_by_role("navigation", name="Account")
    assert f"{TECH_NAME} (technician)" in await who.inner_text()
    assert await page.get_by_role("link", name="Users").count() == 0  # not for a technician
    async with page.expect_navigation():
        await page.get_by_role("button", name="Sign out").click()
    assert page.url == console.url + "signin"
    assert await page.get_by_role("heading", name="Sign in").is_visible()
    await page.goto(console.url + "account")  # the session is over: back to sign-in
    assert page.url.startswith(console.url + "signin")
    assert await page.get_by_label("User id").is_visible()
    assert await page.get_by_role("navigation", name="Account").count() == 0


async def test_a_wrong_password_is_refused_and_nobody_is_signed_in(
    console: Console, page: Any
) -> None:
    await sign_in(page, console.url, TECH, "not the right password at all")
    refusal = await page.get_by_role("alert").inner_text()
    assert "The user id or the password is wrong" in refusal
    assert await page.get_by_role("navigation", name="Account").count() == 0
    await page.goto(console.url)
    assert page.url.startswith(console.url + "signin")


async def test_the_admin_sees_every_user_on_the_users_page(console: Console, page: Any) -> None:
    await sign_in(page, console.url, ADMIN, ADMIN_PASSWORD)
    async with page.expect_navigation():
        await page.get_by_role("link", name="Users").click()
    assert page.url == console.url + "users"
    rows = await page.locator("table tr").all_inner_texts()
    assert any(ADMIN in r and ADMIN_NAME in r and "admin" in r for r in rows), rows
    assert any(TECH in r and TECH_NAME in r and "technician" in r for r in rows), rows


async def test_the_sign_in_page_and_its_refusal_are_accessible(console: Console, page: Any) -> None:
    await check_accessibility(page, console.url + "signin")
    await sign_in(page, console.url, TECH, "a wrong password, refused")
    assert await page.get_by_role("alert").count() == 1
    assert await axe_violations(page) == []


@pytest.mark.parametrize("path", PAGES)
async def test_every_signed_in_page_is_accessible(console: Console, page: Any, path: str) -> None:
    await sign_in(page, console.url, ADMIN, ADMIN_PASSWORD)
    await check_accessibility(page, console.url + path.lstrip("/"))
