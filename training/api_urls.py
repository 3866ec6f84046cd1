from django.urls import path

from . import reward_api

app_name = "prm_api"

urlpatterns = [
    path("models/", reward_api.ModelListView.as_view(), name="models"),
    path("<int:model_id>/score/", reward_api.ScoreView.as_view(), name="score"),
    path("<int:model_id>/openrlhf/", reward_api.OpenRlhfView.as_view(), name="openrlhf"),
]
