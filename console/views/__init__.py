"""Admin pages of a project: settings, members, import, quality control, review, dashboard.

Every view is wrapped by ``project_role_required`` (or ``login_required`` for the user-scoped
index), so the URL-conf walk in tests/test_permissions_urlconf.py holds for all of them.
"""
