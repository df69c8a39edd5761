from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from codes.views import seam_webhook

urlpatterns = [
    path("", include("front.urls")),
    path("seam/webhook/", seam_webhook, name="seam_webhook"),
    path("api/", include("api.urls")),
    path("stay/", include("guests.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
