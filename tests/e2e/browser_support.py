"""A real Chromium (Debian's ``chromium`` and ``chromium-driver``) driven by Selenium.

Nothing is downloaded: the browser and its driver are the system's
(``.ci/run`` installs them). Without them the browser tests are skipped with
a reason, unless ``RULELOG_REQUIRE_BROWSER=1`` (CI), where that is a failure.
Each ``Browser`` is one session (its own cookies: one signed-in user); every
page it loads is checked for console errors, and waits are conditions
(``WebDriverWait``), never sleeps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
WAIT_SECONDS = 20


def require_browser() -> None:
    """Skip (or, in CI, fail) when Debian's chromium or its driver is missing."""
    if CHROMIUM and CHROMEDRIVER:
        return
    reason = "chromium and chromedriver are needed (apt-get install chromium chromium-driver)"
    if os.environ.get("RULELOG_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


class Browser:
    """One headless Chromium session against ``base`` (http://127.0.0.1:PORT)."""

    def __init__(self, base: str, screenshots: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for argument in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1400,1000",
            "--disable-extensions",
            "--no-first-run",
        ):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        self.base = base
        self.screenshots = screenshots

    # ------------------------------------------------------------ pages

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)
        self.no_console_errors()
        self.all_labelled()

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        return str(self.find(css).text)

    def wait(self, condition: Callable[[Any], Any], what: str) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, WAIT_SECONDS).until(condition, message=what)

    def wait_for(self, css: str) -> Any:
        return self.wait(lambda d: self.all(css), f"{css} on {self.driver.current_url}")[0]

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def submit(self, css: str) -> None:
        """Click a submit button and wait for the next page to have loaded."""
        old = self.find("html")
        self.find(css).click()
        self.wait(lambda d: self._stale(old), f"the page after clicking {css}")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "load")
        self.no_console_errors()

    @staticmethod
    def _stale(element: Any) -> bool:
        """Whether the page ``element`` was on has been replaced.

        While the new page replaces the old, chromedriver can answer a question
        about an old node with an "unknown error" (the node "does not belong to
        the document") rather than the stale-element error it answers once the
        replacement is complete: both mean the old page is gone. Any other
        driver error leaves the wait to ask again.
        """
        from selenium.common.exceptions import (
            StaleElementReferenceException,
            WebDriverException,
        )

        try:
            element.tag_name  # noqa: B018  # raises once the page has been replaced
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            return "does not belong to the document" in str(error)
        return False

    def sign_in(self, token: str) -> None:
        self.open("/ui/signin")
        self.fill("#token", token)
        self.submit("#sign-in")
        self.wait_for("#signed-in-as")

    def shoot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    # ------------------------------------------------------------ checks

    def no_console_errors(self) -> None:
        """Fail on any error the page logged (CSP violations, script errors, failed loads)."""
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, f"browser console errors on {self.driver.current_url}: {errors}"

    def all_labelled(self) -> None:
        """Every form control a person can use has a label (or an aria-label)."""
        unlabelled = self.driver.execute_script(
            "return [...document.querySelectorAll('input, select, textarea')]"
            ".filter(e => e.type !== 'hidden' && !e.getAttribute('aria-label')"
            " && !(e.id && document.querySelector(`label[for='${e.id}']`)))"
            ".map(e => e.outerHTML);"
        )
        where = self.driver.current_url
        assert not unlabelled, f"controls without a label on {where}: {unlabelled}"

    def quit(self) -> None:
        self.driver.quit()
