from django.contrib import admin
from django.http import HttpRequest

from properties.models import Reservation, Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin[Site]):
    list_display = ["name", "timezone", "dormakaba_site_name", "created_at"]
    search_fields = ["name", "dormakaba_site_name"]
    list_filter = ["timezone"]
    filter_horizontal = ["staff"]


@admin.register(Reservation)
class ReservationAdmin(admin.ModelAdmin[Reservation]):
    list_display = ["guest_name", "guest_email", "site", "lock", "arrival", "departure", "cancelled_at"]
    list_filter = ["site", "arrival", ("cancelled_at", admin.EmptyFieldListFilter)]
    readonly_fields = ["cancelled_at", "cancelled_by", "created_at"]
    search_fields = ["guest_name", "guest_email", "lock__name"]
    date_hierarchy = "arrival"
    list_select_related = ["site", "lock"]
    autocomplete_fields = ["site"]
    raw_id_fields = ["lock"]

    def get_readonly_fields(self, request: HttpRequest, obj: Reservation | None = None) -> list[str]:
        # A saved stay's dates decide its codes at Seam: they change on the dashboard's change
        # page, which plans the codes, never through a plain edit here.
        readonly = list(self.readonly_fields)
        return [*readonly, "arrival", "departure"] if obj is not None else readonly
