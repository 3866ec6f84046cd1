from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import pages
from .views import (
    certifications,
    critiques,
    exports,
    ingest,
    labels,
    models,
    ratings,
    resources,
    runs,
    search,
    tokens,
    traces,
)

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("tokens/", tokens.TokenListCreate.as_view(), name="tokens"),
    path("tokens/<int:pk>/", tokens.TokenRevoke.as_view(), name="token"),
    path("tokens/manage/", pages.tokens_page, name="tokens-page"),
    path("projects/", resources.ProjectList.as_view(), name="projects"),
    path("projects/<int:pk>/", resources.ProjectDetail.as_view(), name="project"),
    path("projects/<int:pk>/label-sources/", labels.LabelSources.as_view(), name="project-label-sources"),
    path("projects/<int:pk>/certifications/", certifications.Certifications.as_view(),
         name="project-certifications"),
    path("problems/", resources.ProblemList.as_view(), name="problems"),
    path("problems/bulk/", ingest.ProblemBulkCreate.as_view(), name="problems-bulk"),
    path("problems/<int:pk>/", resources.ProblemDetail.as_view(), name="problem"),
    path("problems/<int:pk>/tree/", resources.ProblemTree.as_view(), name="problem-tree"),
    path("solutions/", resources.SolutionList.as_view(), name="solutions"),
    path("solutions/bulk/", ingest.SolutionBulkCreate.as_view(), name="solutions-bulk"),
    path("solutions/<int:pk>/", resources.SolutionDetail.as_view(), name="solution"),
    path("traces/bulk/", traces.TraceBulkCreate.as_view(), name="traces-bulk"),
    path("assignments/", resources.AssignmentList.as_view(), name="assignments"),
    path("assignments/<int:pk>/", resources.AssignmentDetail.as_view(), name="assignment"),
    path("assignments/<int:pk>/critiques/", critiques.AssignmentCritiques.as_view(),
         name="assignment-critiques"),
    path("critiques/<int:pk>/review/", critiques.CritiqueReview.as_view(), name="critique-review"),
    path("ratings/", ratings.RatingChanges.as_view(), name="ratings"),
    path("runs/", runs.RunListCreate.as_view(), name="runs"),
    path("runs/<int:pk>/", runs.RunDetail.as_view(), name="run"),
    path("runs/<int:pk>/cancel/", runs.RunCancel.as_view(), name="run-cancel"),
    path("exports/", exports.ExportListCreate.as_view(), name="exports"),
    path("exports/stream/", exports.ExportStream.as_view(), name="export-stream"),
    path("exports/<int:pk>/", exports.ExportDetail.as_view(), name="export"),
    path("exports/<int:pk>/download/", exports.ExportDownload.as_view(), name="export-download"),
    path("models/", models.TrainedModelList.as_view(), name="models"),
    path("models/<int:pk>/", models.TrainedModelDetail.as_view(), name="model"),
    path("models/<int:pk>/scaling/", search.ModelScaling.as_view(), name="model-scaling"),
]
