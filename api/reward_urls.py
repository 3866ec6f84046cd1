from django.urls import path

from .views import reward

app_name = "prm_api"

urlpatterns = [
    path("models/", reward.ModelListView.as_view(), name="models"),
    path("<int:model_id>/score/", reward.ScoreView.as_view(), name="score"),
    path("<int:model_id>/openrlhf/", reward.OpenRlhfView.as_view(), name="openrlhf"),
    path("<int:model_id>/reward-urls/", reward.RewardUrlListView.as_view(), name="reward-urls"),
    path("<int:model_id>/reward-urls/<int:url_id>/", reward.RewardUrlRevokeView.as_view(),
         name="reward-url"),
    path("reward/<str:key>/", reward.RewardUrlScoreView.as_view(), name="reward"),
]
