"""The label-sources page's Certify part: the sample size before the start, starting a
certification, its list (status, counts, interval, version), for admins; reviewers read it."""

import json

import pytest

from annotate.models import Membership
from annotate.services import blind
from annotate.services.imports import import_machine_labels
from quality.models import Certification

from .browser_helpers import screenshot, sign_in
from .manage_factories import add, make_project, make_solution, rate

HUMAN = [1, 1, -1, 1]


def _project(make_user, slug):
    admin, human = make_user(f"{slug}-admin"), make_user(f"{slug}-human")
    project = make_project(slug, admin=admin)
    add(project, human)
    sols = []
    for i in range(4):
        s = make_solution(project, n_steps=4, tag=f"{slug}{i}")
        s.external_id = f"{slug}-{i}"
        s.save()
        sols.append(s)
    import_machine_labels(project, [json.dumps({"solution": s.external_id,
                                                "step_labels": HUMAN}) for s in sols],
                          source="qwen-judge", kind="judge",
                          version={"model": "qwen3-8b", "prompt_version": "v1"})
    return project, admin, human, sols


@pytest.mark.django_db
def test_page_form_size_and_list(client, make_user, django_capture_on_commit_callbacks):
    project, admin, human, sols = _project(make_user, "certpage")
    url = f"/manage/{project.slug}/label-sources/"
    client.force_login(admin)
    html = client.get(url).content.decode()
    assert 'id="certify-form"' in html and "needs a sample of 29 steps" in html
    size = client.get(url + "certify/size/", {"max_error": "0.3", "confidence": "0.9"})
    assert size.status_code == 200 and "needs a sample of 7 steps" in size.content.decode()
    bad = client.get(url + "certify/size/", {"max_error": "2", "confidence": "0.9"})
    assert "max_error must be between 0 and 1" in bad.content.decode()
    resp = client.post(url + "certify/", {"source": "judge:qwen-judge", "max_error": "0.3",
                                          "confidence": "0.5"})
    assert resp.status_code == 400 and "confidence must be between 0.5 and 1" in resp.content.decode()
    resp = client.post(url + "certify/", {"source": "judge:qwen-judge", "max_error": "0.3",
                                          "confidence": "0.9", "method": "exact", "seed": "4"})
    assert resp.status_code == 302
    cert = Certification.objects.get()
    assert (cert.sample_size, cert.seed, cert.started_by) == (7, 4, admin)
    for s in sols:
        with django_capture_on_commit_callbacks(execute=True):
            blind.submitted(rate(s, human, HUMAN))  # what the task's finish does
    reviewer = make_user("certpage-reviewer")
    add(project, reviewer, Membership.Role.REVIEWER)
    client.force_login(reviewer)
    html = client.get(url).content.decode()
    assert 'id="certify-form"' not in html  # reviewers read
    assert 'data-status="certified"' in html and "prompt_version: v1" in html
    assert client.post(url + "certify/", {"source": "judge:qwen-judge", "max_error": "0.3",
                                          "confidence": "0.9"}).status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_admin_certifies_a_judge_in_the_browser(live_server, page, make_user):
    project, admin, human, sols = _project(make_user, "certbrowser")
    sign_in(page, live_server, admin.username)
    page.goto(f"{live_server.url}/manage/{project.slug}/label-sources/#certify")
    page.wait_for_selector("#certify-form")
    assert "29 steps" in page.inner_text("#cert-needed")
    page.fill("#cert-max-error", "0.3")
    page.fill("#cert-confidence", "0.9")
    page.wait_for_function(
        "() => document.querySelector('#cert-needed').textContent.includes('7 steps')")
    screenshot(page, "certify-form.png")
    page.fill("#cert-seed", "4")
    page.click("#certify-form button[type=submit]")
    page.wait_for_selector("#certifications tr[data-status='sampling']")
    assert "0 of 7 labeled" in page.inner_text("#certifications")
    for s in sols:
        blind.submitted(rate(s, human, HUMAN))  # what the task's finish does, on commit
    page.reload()
    page.wait_for_selector("#certifications tr[data-status='certified']")
    row = page.inner_text("#certifications tbody tr")
    assert "7 of 7 labeled" in row and "qwen3-8b" in row
    page.locator("#certify").scroll_into_view_if_needed()
    screenshot(page, "certify-certified.png")
