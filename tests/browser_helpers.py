"""What the browser tests do alike: sign in through the login page, open a task as an
annotator, wait for htmx to settle, check that math was rendered, and keep a screenshot of a
page under DATA_DIR/screenshots for a reviewer to look at."""

from pathlib import Path

from django.conf import settings


def sign_in(page, live_server, username: str, password: str = "pw-for-tests",
            wait_for: str = "#nav-manage") -> None:
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector(wait_for)


def start_labeling(page, live_server, make_user, project, username: str = "annotator"):
    """A new annotator of ``project`` signs in and takes a task; the page rests on it."""
    from annotate.models import Membership

    user = make_user(username)
    Membership.objects.create(project=project, user=user, role="annotator")
    sign_in(page, live_server, username, wait_for="#project-list")
    page.goto(f"{live_server.url}/p/{project.slug}/next/")
    if page.locator("#start-task").count():
        page.click("#start-task")
    page.wait_for_selector("#task .item.cursor")
    return user


def screenshot(page, name: str) -> Path:
    shots = Path(settings.DATA_DIR) / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    path = shots / name
    page.screenshot(path=str(path), full_page=True)
    return path


# Text outside rendered KaTeX that still holds "$", "\\(" or "\\begin{": math the page left raw.
RAW_MATH = """sel => {
  const out = [];
  document.querySelectorAll(sel).forEach(el => {
    const walk = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = walk.nextNode())) {
      if (n.parentElement.closest('.katex')) continue;
      const t = n.textContent;
      if (t.includes('$') || t.includes('\\\\(') || t.includes('\\\\begin{')) out.push(t);
    }
  });
  return out;
}"""
IDLE = "() => !document.querySelector('.htmx-request')"


def settle(page) -> None:
    """No htmx request in flight (and a moment for the swap's own scripts)."""
    page.wait_for_function(IDLE)
    page.wait_for_timeout(50)


def wait_for_math(page, sel: str, where: str = "", timeout: float = 5000) -> None:
    """Wait until ``sel`` holds KaTeX and ``where`` (default ``sel``) no raw LaTeX, for at most
    ``timeout`` ms. The page renders math on htmx:load, in the swap's settle step, a moment
    after the new content is in the document and the request has ended; the asserts that
    follow say what is missing if it never renders."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"([sel, where]) => document.querySelector(sel + ' .katex') !== null"
                               f" && ({RAW_MATH})(where).length === 0", arg=[sel, where or sel],
                               timeout=timeout)
    except PlaywrightTimeout:
        pass


def math_rendered(page, sel: str, text_sel: str = "") -> None:
    """``sel`` holds KaTeX and no raw LaTeX is left in ``sel text_sel``."""
    wait_for_math(page, sel, f"{sel} {text_sel}".strip())
    assert page.locator(f"{sel} .katex").count() > 0, f"no KaTeX in {sel}"
    where = f"{sel} {text_sel}".strip()
    assert page.evaluate(RAW_MATH, where) == [], f"raw LaTeX left in {where}"
