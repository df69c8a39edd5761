from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from locks.models import Lock
from properties.selectors import sites_for_user


@login_required
def home(request: HttpRequest) -> HttpResponse:
    sites = (
        sites_for_user(user=request.user)
        .annotate(reservation_count=Count("reservations", distinct=True))
        .prefetch_related(Prefetch("locks", queryset=Lock.objects.order_by("name")))
    )
    return render(request, "properties/home.html", {"sites": sites})
