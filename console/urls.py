"""Admin pages, mounted at /manage/. Every view checks the user's role in the project."""

from django.urls import path

from .views import (
    certify,
    dashboard,
    generator,
    imports,
    labels,
    members,
    projects,
    quality,
    review,
    traces,
)

app_name = "manage"

urlpatterns = [
    path("", projects.index, name="index"),
    path("new/", projects.create, name="create"),
    path("<slug:slug>/", projects.settings, name="settings"),
    path("<slug:slug>/preview/", projects.preview, name="preview"),
    path("<slug:slug>/archive/", projects.archive, name="archive"),
    path("<slug:slug>/generator/", generator.generator, name="generator"),
    path("<slug:slug>/generator/test/", generator.test_connection, name="test_connection"),
    path("<slug:slug>/members/", members.members, name="members"),
    path("<slug:slug>/members/<int:pk>/role/", members.set_role, name="set_role"),
    path("<slug:slug>/members/<int:pk>/remove/", members.remove, name="remove_member"),
    path("<slug:slug>/import/", imports.upload, name="import"),
    path("<slug:slug>/runs/<int:run_id>/", imports.run_status, name="run"),
    path("<slug:slug>/traces/resegment/", traces.resegment_traces, name="resegment_traces"),
    path("<slug:slug>/gold/", quality.gold, name="gold"),
    path("<slug:slug>/gold/promote/<int:assignment_id>/", quality.promote, name="promote"),
    path("<slug:slug>/screening/", quality.screening, name="screening"),
    path("<slug:slug>/agreement/", quality.agreement_page, name="agreement"),
    path("<slug:slug>/audit/", quality.audit, name="audit"),
    path("<slug:slug>/label-sources/", labels.label_sources, name="label_sources"),
    path("<slug:slug>/label-sources/recompute/", labels.label_sources_recompute,
         name="label_sources_recompute"),
    path("<slug:slug>/label-sources/certify/", certify.certify, name="certify"),
    path("<slug:slug>/label-sources/certify/size/", certify.certify_size, name="certify_size"),
    path("<slug:slug>/label-sources/<slug:table>.csv", labels.label_sources_csv,
         name="label_sources_csv"),
    path("<slug:slug>/review/", review.queue, name="review"),
    path("<slug:slug>/review/<int:assignment_id>/", review.detail, name="review_detail"),
    path("<slug:slug>/review/<int:assignment_id>/critiques/<int:critique_id>/",
         review.correct_critique_view, name="review_critique"),
    path("<slug:slug>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("<slug:slug>/dashboard/part/<slug:name>/", dashboard.part, name="dashboard_part"),
    path("<slug:slug>/dashboard/<slug:table>.csv", dashboard.table_csv, name="table_csv"),
]
