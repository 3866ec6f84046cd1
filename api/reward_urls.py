from django.urls import path

from .views import reward, reward_trainers

app_name = "prm_api"

urlpatterns = [
    path("models/", reward.ModelListView.as_view(), name="models"),
    path("<int:model_id>/score/", reward.ScoreView.as_view(), name="score"),
    path("<int:model_id>/openrlhf/", reward.OpenRlhfView.as_view(), name="openrlhf"),
    path("<int:model_id>/reward-urls/", reward.RewardUrlListView.as_view(), name="reward-urls"),
    path("<int:model_id>/reward-urls/<int:url_id>/", reward.RewardUrlRevokeView.as_view(),
         name="reward-url"),
    path("<int:model_id>/classify/", reward_trainers.ClassifyView.as_view(), name="classify"),
    path("<int:model_id>/slime/", reward_trainers.SlimeView.as_view(), name="slime"),
    path("reward/<str:key>/", reward.RewardUrlScoreView.as_view(), name="reward"),
    # verl appends "/classify" to the server address it is given: no trailing slash.
    path("reward/<str:key>/classify", reward_trainers.RewardUrlClassifyView.as_view(),
         name="reward-classify"),
    path("reward/<str:key>/classify/", reward_trainers.RewardUrlClassifySlashView.as_view(),
         name="reward-classify-slash"),
    path("reward/<str:key>/slime/", reward_trainers.RewardUrlSlimeView.as_view(),
         name="reward-slime"),
]
