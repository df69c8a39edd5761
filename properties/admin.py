from typing import Any, ClassVar, TypeVar

from django.contrib import admin
from django.contrib.admin.utils import flatten, flatten_fieldsets, get_fields_from_path
from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.db.models import ForeignKey, Model, QuerySet
from django.db.models.constants import LOOKUP_SEP
from django.forms import ModelChoiceField
from django.http import HttpRequest

from properties.models import Reservation, Site, SiteMessage, Unit, UnitDoor
from properties.selectors import sites_for_user

_M = TypeVar("_M", bound=Model)

# Fields no admin page may show, search, sort or filter on. A filter alone leaks a PIN without
# ever showing it (?code__startswith=1, then 18, ...: at most 60 requests), and Django's admin
# allows any lookup on a model's own fields. A webhook's payload carries the PIN too (Seam's
# access_code.set_on_device has ``code``), and a JSON field takes key lookups
# (payload__code__startswith). A guest link's public id is what its URL carries, the way to
# a stay's PINs. Named by label so this module needs no import from codes.
SECRET_FIELDS = frozenset({"codes.accesscode.code", "codes.webhookdelivery.payload", "codes.guestlink.public_id"})


def reaches_secret(model: type[Model], path: str) -> bool:
    """Whether a field path or lookup (``reservation__access_codes__code__startswith``) reads a
    field of ``SECRET_FIELDS``, directly or across relations, forward or reverse."""
    for part in path.split(LOOKUP_SEP):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if f"{field.model._meta.label_lower}.{field.name}" in SECRET_FIELDS:
            return True
        related = field.related_model
        if related is None or isinstance(related, str):
            # A plain field: whatever follows is a transform or a lookup on it.
            return False
        model = related
    return False


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


class SiteScopedAdmin(admin.ModelAdmin[_M]):
    """The base of every admin in this project.

    A non-superuser sees, chooses and acts on the rows of their own sites only (those
    ``sites_for_user`` returns): ``site_path`` is the lookup from the model to its ``Site``
    (``"reservation__site"``); left ``None``, the model is for superusers only, as rows that
    belong to no site must be. Everything reads the scoped ``get_queryset``: the list, change
    and delete pages, actions, foreign-key choices, raw-id popups and autocomplete (through the
    related model's admin), and list filters by a related object (made "related only").

    No lookup may reach a field of ``SECRET_FIELDS``, and a system check refuses an admin that
    would show, search, sort or edit one.
    """

    site_path: ClassVar[str | None] = None

    def get_queryset(self, request: HttpRequest) -> QuerySet[_M]:
        rows = super().get_queryset(request)
        if _is_superuser(request):
            return rows
        if self.site_path is None:
            return rows.none()
        return rows.filter(**{f"{self.site_path}__in": sites_for_user(user=request.user)})

    def _open_to(self, request: HttpRequest) -> bool:
        return self.site_path is not None or _is_superuser(request)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._open_to(request) and super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self._open_to(request) and super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self._open_to(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return self._open_to(request) and super().has_delete_permission(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._open_to(request) and super().has_add_permission(request)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if reaches_secret(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        related = db_field.remote_field.model
        if "queryset" not in kwargs and self.admin_site.is_registered(related):
            related_admin = self.admin_site.get_model_admin(related)
            if isinstance(related_admin, SiteScopedAdmin):
                kwargs["queryset"] = related_admin.get_queryset(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        # A plain filter by a related object lists every row of that model (every site's name);
        # "related only" lists those the scoped rows use.
        return [
            (item, admin.RelatedOnlyFieldListFilter)
            if isinstance(item, str) and get_fields_from_path(self.model, item)[-1].is_relation
            else item
            for item in super().get_list_filter(request)
        ]

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        name = type(self).__name__
        for path in self._declared_paths():
            if reaches_secret(self.model, path):
                errors.append(
                    checks.Error(
                        f"{name} names “{path}”, which reaches a secret field.", obj=type(self), id="properties.E001"
                    )
                )
        declares_fields = bool(self.fields or self.fieldsets)
        for field in self.model._meta.concrete_fields:
            in_form = field.editable and field.name not in [*(self.exclude or ()), *self.readonly_fields]
            if in_form and not declares_fields and reaches_secret(self.model, field.name):
                errors.append(
                    checks.Error(
                        f"{name} would put the secret field “{field.name}” in its form; add it to exclude.",
                        obj=type(self),
                        id="properties.E002",
                    )
                )
        return errors

    def _declared_paths(self) -> list[str]:
        filters = [item[0] if isinstance(item, tuple | list) else item for item in self.list_filter]
        paths = [
            *self.list_display,
            *(self.list_display_links or ()),
            *filters,
            *self.search_fields,
            *flatten(self.fields or ()),
            *flatten_fieldsets(self.fieldsets or ()),
            *self.readonly_fields,
            *(self.ordering or ()),
            *(self.sortable_by or ()),
            self.date_hierarchy or "",
        ]
        # Search prefixes (^ = @) and the descending sign are not part of the path.
        return [path.lstrip("^=@-") for path in paths if isinstance(path, str) and path]


@admin.register(Site)
class SiteAdmin(SiteScopedAdmin[Site]):
    site_path = "pk"
    list_display = ["name", "timezone", "dormakaba_site_name", "guest_email_policy", "language", "created_at"]
    search_fields = ["name", "dormakaba_site_name"]
    list_filter = ["timezone", "guest_email_policy", "language"]
    filter_horizontal = ["staff"]

    def get_readonly_fields(self, request: HttpRequest, obj: Site | None = None) -> list[str]:
        # Who is staff where decides what each person sees: superusers decide it. The choices
        # would also list every user of every site.
        readonly = list(self.readonly_fields)
        return readonly if _is_superuser(request) else [*readonly, "staff"]


class UnitDoorInline(admin.TabularInline[UnitDoor, Unit]):
    model = UnitDoor
    extra = 1
    fields = ["lock", "position", "optional"]
    raw_id_fields = ["lock"]


@admin.register(Unit)
class UnitAdmin(SiteScopedAdmin[Unit]):
    site_path = "site"
    list_display = ["name", "site", "check_in_time", "check_out_time", "door_names"]
    list_filter = ["site"]
    search_fields = ["name", "site__name"]
    list_select_related = ["site"]
    inlines = [UnitDoorInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Unit]:
        return super().get_queryset(request).prefetch_related("unit_doors__lock")

    @admin.display(description="Doors, in walking order")
    def door_names(self, unit: Unit) -> str:
        return ", ".join(unit_door.lock.name for unit_door in unit.unit_doors.all())

    def get_readonly_fields(self, request: HttpRequest, obj: Unit | None = None) -> list[str]:
        # Its stays' codes are on its site's doors: a unit does not move to another site.
        readonly = list(self.readonly_fields)
        return [*readonly, "site"] if obj is not None else readonly


@admin.register(UnitDoor)
class UnitDoorAdmin(SiteScopedAdmin[UnitDoor]):
    """Which doors each unit's guests open (edited on the unit's page)."""

    site_path = "unit__site"
    list_display = ["unit", "lock", "position", "optional"]
    list_filter = ["unit__site", "optional"]
    list_select_related = ["unit", "lock"]
    raw_id_fields = ["unit", "lock"]


@admin.register(Reservation)
class ReservationAdmin(SiteScopedAdmin[Reservation]):
    site_path = "site"
    list_display = ["guest_name", "guest_email", "site", "unit", "arrival", "departure", "source", "cancelled_at"]
    list_filter = [
        "site",
        "language",
        "arrival",
        "source",
        ("cancelled_at", admin.EmptyFieldListFilter),
        ("attention", admin.EmptyFieldListFilter),
    ]
    readonly_fields = ["source", "attention", "cancelled_at", "cancelled_by", "created_at"]
    search_fields = ["guest_name", "guest_email", "unit__name", "external_id"]
    date_hierarchy = "arrival"
    list_select_related = ["site", "unit"]
    autocomplete_fields = ["site", "unit"]

    def get_readonly_fields(self, request: HttpRequest, obj: Reservation | None = None) -> list[str]:
        # A saved stay's dates decide its codes at Seam: they change on the dashboard's change
        # page, which plans the codes, never through a plain edit here. Its site and unit stay
        # too: moved, the page would name doors its PINs do not open, and staff of another
        # site could reveal them.
        readonly = list(self.readonly_fields)
        # The external id is how a feed or a PMS finds its stay again: changed, the next sync
        # would book the stay a second time.
        saved = [*readonly, "site", "unit", "arrival", "departure", "external_id"]
        return saved if obj is not None else readonly


@admin.register(SiteMessage)
class SiteMessageAdmin(SiteScopedAdmin[SiteMessage]):
    """What staff wrote for a site's guests, per language. Read-only here: it is written on the
    staff pages' message editor, which checks the placeholders and previews the email."""

    site_path = "site"
    list_display = ["site", "language", "email_subject", "updated_at", "updated_by"]
    list_filter = ["site", "language"]
    list_select_related = ["site", "updated_by"]
    readonly_fields = ["site", "language", "email_subject", "email_body", "directions", "updated_at", "updated_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
