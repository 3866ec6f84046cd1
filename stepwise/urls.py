from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from stepwise.login import LoginView

urlpatterns = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # One sign-in page, with its failure limits, for the admin site too.
    path("django-admin/login/", RedirectView.as_view(pattern_name="login", query_string=True),
         name="admin-login-redirect"),
    path("django-admin/", admin.site.urls),
    path("manage/", include("console.urls")),
    path("api/prm/", include("api.reward_urls")),
    path("api/", include("api.urls")),
    path("training/", include("training.urls")),
    path("search/", include("search.urls")),
    path("", include("annotate.urls")),
]
