from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import path

from codes import views as code_views
from properties import views as property_views

urlpatterns = [
    path("", property_views.home, name="home"),
    path("reservations/new/", property_views.reservation_create, name="reservation_create"),
    path("reservations/new/choices/", property_views.reservation_form_choices, name="reservation_form_choices"),
    path("reservations/", property_views.reservation_list, name="reservation_list"),
    path("reservations/<int:pk>/", property_views.reservation_detail, name="reservation_detail"),
    path("reservations/<int:pk>/change/", property_views.reservation_change, name="reservation_change"),
    path("reservations/<int:pk>/cancel/", property_views.reservation_cancel_view, name="reservation_cancel"),
    path("doors/", property_views.door_list, name="door_list"),
    path("doors/<int:pk>/codes/", property_views.door_codes, name="door_codes"),
    path("ledger/", property_views.ledger, name="ledger"),
    path("ledger/<int:pk>/acknowledge/", property_views.ledger_acknowledge_view, name="ledger_acknowledge"),
    path("codes/<int:pk>/", code_views.code_cell, name="code_cell"),
    path("codes/<int:pk>/reveal/", code_views.code_reveal, name="code_reveal"),
    path("codes/<int:pk>/email/", code_views.code_email, name="code_email"),
    path("codes/<int:pk>/retry/", code_views.code_retry, name="code_retry"),
    path("seam/webhook/", code_views.seam_webhook, name="seam_webhook"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
]
