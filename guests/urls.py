from django.urls import path

from guests import views

urlpatterns = [
    path("<str:token>/", views.stay, name="guest_page"),
]
