from django.urls import path

from . import views

app_name = "search"

urlpatterns = [
    path("models/<int:model_id>/", views.scaling, name="scaling"),
    path("models/<int:model_id>/scaling.csv", views.scaling_csv, name="scaling-csv"),
    path("models/<int:model_id>/start/", views.start, name="start"),
    path("models/<int:model_id>/runs/", views.runs_part, name="runs-part"),
]
