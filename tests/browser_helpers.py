"""What the browser tests do alike: sign in through the login page, open a task as an
annotator, and keep a screenshot of a page under DATA_DIR/screenshots for a reviewer to look
at."""

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
