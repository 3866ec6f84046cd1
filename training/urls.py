from django.urls import path

from . import views

app_name = "training"

urlpatterns = [
    path("", views.model_list, name="list"),
    path("new/", views.model_create, name="create"),
    path("register/", views.model_register, name="register"),
    path("models/<int:model_id>/", views.model_detail, name="detail"),
    path("models/<int:model_id>/progress/", views.model_progress, name="progress"),
    path("models/<int:model_id>/score/", views.model_score, name="score"),
]
