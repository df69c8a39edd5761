from django.urls import path

from front import actions, messages, views

urlpatterns = [
    path("", views.home, name="home"),
    path("reservations/", views.reservation_list, name="reservation_list"),
    path("reservations/new/", actions.reservation_new, name="reservation_create"),
    path("reservations/new/choices/", actions.reservation_new_choices, name="reservation_form_choices"),
    path("reservations/<int:pk>/", views.reservation_detail, name="reservation_detail"),
    path("reservations/<int:pk>/change/", actions.reservation_change, name="reservation_change"),
    path("reservations/<int:pk>/guest/", actions.reservation_guest, name="reservation_guest"),
    path("reservations/<int:pk>/cancel/", actions.reservation_cancel_view, name="reservation_cancel"),
    path("reservations/<int:pk>/guest-link/", actions.reservation_guest_link, name="reservation_guest_link"),
    path("reservations/<int:pk>/codes/new/", actions.reservation_codes_new, name="reservation_codes_new"),
    path("units/", views.unit_list, name="unit_list"),
    path("units/<int:pk>/", views.unit_detail, name="unit_detail"),
    path("units/<int:pk>/feeds/", actions.unit_feed_add, name="unit_feed_add"),
    path("feeds/<int:pk>/sync/", actions.feed_sync_now, name="feed_sync_now"),
    path("feeds/<int:pk>/confirm/", actions.feed_confirm_removals, name="feed_confirm_removals"),
    path("doors/", views.door_list, name="door_list"),
    path("doors/<int:pk>/codes/", views.door_codes, name="door_codes"),
    path("messages/", messages.site_messages_index, name="site_messages"),
    path("sites/<int:site_pk>/messages/<str:language>/", messages.site_messages_edit, name="site_messages_edit"),
    path("ledger/", views.ledger, name="ledger"),
    path("ledger/<int:pk>/acknowledge/", actions.ledger_acknowledge_view, name="ledger_acknowledge"),
    path("codes/<int:pk>/", actions.code_cell, name="code_cell"),
    path("codes/<int:pk>/reveal/", actions.code_reveal, name="code_reveal"),
    path("codes/<int:pk>/email/", actions.code_email, name="code_email"),
    path("codes/<int:pk>/retry/", actions.code_retry, name="code_retry"),
]
