from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("django-admin/", admin.site.urls),
    path("manage/", include("console.urls")),
    path("api/prm/", include("api.reward_urls")),
    path("api/", include("api.urls")),
    path("training/", include("training.urls")),
    path("search/", include("search.urls")),
    path("", include("annotate.urls")),
]
