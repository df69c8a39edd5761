"""The API under /api/: version 1 of the calls, its OpenAPI schema and the Swagger UI."""

from django.contrib.auth.decorators import login_required
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import feeds, views

app_name = "api"

urlpatterns = [
    path("v1/units/", views.UnitList.as_view(), name="unit_list"),
    path("v1/units/<int:pk>/windows/", views.UnitWindows.as_view(), name="unit_windows"),
    path("v1/reservations/", views.ReservationList.as_view(), name="reservation_list"),
    path("v1/reservations/<int:pk>/", views.ReservationDetail.as_view(), name="reservation_detail"),
    path(
        "v1/reservations/<int:pk>/change-dates/",
        views.ReservationChangeDates.as_view(),
        name="reservation_change_dates",
    ),
    path("v1/reservations/<int:pk>/cancel/", views.ReservationCancel.as_view(), name="reservation_cancel"),
    path("v1/codes/<int:pk>/reveal/", views.CodeReveal.as_view(), name="code_reveal"),
    path("v1/feeds/", feeds.FeedList.as_view(), name="feed_list"),
    path("v1/feeds/<int:pk>/sync/", feeds.FeedSync.as_view(), name="feed_sync"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file of its own: the site's
    # Content-Security-Policy allows no inline script. A person not signed in is sent to log in.
    path(
        "docs/",
        login_required(
            SpectacularSwaggerSplitView.as_view(url_name="api:schema", template_name="api/swagger_ui.html")
        ),
        name="docs",
    ),
]
