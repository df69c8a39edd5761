"""The API's calls: units and their windows, reservations (book, read, change dates, cancel)
and the audited PIN reveal.

Each view does what a staff page does: finds the object among the caller's sites (another
site's answers 404), checks the input, calls one service and answers with what it did. A
service's ``Refused`` becomes a 400 naming the field (:mod:`api.errors`).
"""

from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.access import api_user
from api.errors import Conflict
from api.inputs import (
    ChangeDatesSerializer,
    ReservationCreateSerializer,
    ReservationFilterSerializer,
    StayDatesSerializer,
    check_doors_named,
)
from api.pagination import CountedPagination
from api.serializers import (
    CancelSerializer,
    ChangeDatesResultSerializer,
    ReservationSerializer,
    RevealSerializer,
    UnitSerializer,
    UnitWindowsSerializer,
    pin_available,
)
from codes import selectors
from codes.history import access_code_reveal
from codes.imports import reservation_import
from codes.models import AccessCode
from codes.offers import change_offer, stay_offer
from codes.selectors import ReservationSort
from codes.stays import reservation_cancel, reservation_change_dates
from properties.models import Reservation, Unit
from properties.selectors import sites_for_user, units_for_user

BAD_INPUT = OpenApiResponse(OpenApiTypes.OBJECT, description='Bad input: `{"<field>": ["<message>", ...]}`.')
NOT_FOUND = OpenApiResponse(OpenApiTypes.OBJECT, description="Not one of the caller's sites' objects.")


class ConflictSerializer(serializers.Serializer[Any]):
    detail = serializers.CharField(read_only=True)
    reservation = serializers.IntegerField(
        read_only=True, required=False, help_text="The stay the request clashes with, when there is one."
    )


CONFLICT = OpenApiResponse(ConflictSerializer, description="The request clashes with how things stand: see detail.")


def today() -> date:
    """The date stays are checked against, as the services check them (``check_stay``)."""
    return timezone.now().date()


# --- units -------------------------------------------------------------------------------------


@extend_schema_view(get=extend_schema(operation_id="units_list"))
class UnitList(generics.ListAPIView[Unit]):
    """The units the caller may book, with their site, doors and standard times."""

    serializer_class = UnitSerializer

    def get_queryset(self) -> QuerySet[Unit]:
        return units_for_user(user=self.request.user)


class UnitWindows(APIView):
    @extend_schema(
        operation_id="unit_windows",
        parameters=[StayDatesSerializer],
        responses={200: UnitWindowsSerializer, 400: BAD_INPUT, 404: NOT_FOUND},
    )
    def get(self, request: Request, pk: int) -> Response:
        """Per door of the unit, in walking order: the code windows it offers a stay on these dates
        (one preselected, the closest to the unit's standard times), or why none."""
        unit = get_object_or_404(units_for_user(user=request.user), pk=pk)
        query = StayDatesSerializer(data=request.query_params, context={"today": today()})
        query.is_valid(raise_exception=True)
        arrival, departure = query.validated_data["arrival"], query.validated_data["departure"]
        offer = stay_offer(unit=unit, arrival=arrival, departure=departure)
        answer = {
            "unit": unit.pk,
            "arrival": arrival,
            "departure": departure,
            "doors": offer.doors,
            "refusals": offer.refusals,
        }
        return Response(UnitWindowsSerializer(answer).data)


# --- reservations --------------------------------------------------------------------------------


class ReservationList(generics.ListCreateAPIView[Reservation]):
    pagination_class = CountedPagination

    @extend_schema(
        operation_id="reservations_list",
        parameters=[ReservationFilterSerializer],
        responses={200: ReservationSerializer(many=True), 400: BAD_INPUT},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """The caller's reservations with their codes, newest arrival first unless ``sort`` says
        otherwise, a page at a time."""
        return super().get(request, *args, **kwargs)

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return ReservationCreateSerializer if self.request.method == "POST" else ReservationSerializer

    def get_queryset(self) -> QuerySet[Reservation]:
        query = ReservationFilterSerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        reservations = selectors.reservations_for_user(
            user=self.request.user,
            arrival_from=filters.get("arrival_from"),
            arrival_to=filters.get("arrival_to"),
            state=filters.get("state", ""),
            stay=filters.get("stay", ""),
            sort=filters.get("sort") or ReservationSort.ARRIVAL_NEWEST,
        )
        if "unit" in filters:
            reservations = reservations.filter(unit_id=filters["unit"])
        if "external_id" in filters:
            reservations = reservations.filter(external_id=filters["external_id"])
        return reservations

    @extend_schema(
        operation_id="reservation_create",
        request=ReservationCreateSerializer,
        responses={
            201: OpenApiResponse(ReservationSerializer, description="Booked now (it may need attention: see it)."),
            200: OpenApiResponse(ReservationSerializer, description="This external_id was booked before, as sent."),
            400: BAD_INPUT,
            409: CONFLICT,
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Book a stay: a code on every door of the unit, in the window given for a door in
        ``windows`` or else the preselected one. A stay that cannot get a code on every door it
        needs is still saved, without codes, and flagged for staff (``needs_attention``).

        Safe to retry: a stay whose ``external_id`` the caller's sites know already answers 200
        with that stay when the unit, guest and dates are the same, and 409 when they differ.
        """
        user = api_user(request)
        data = ReservationCreateSerializer(data=request.data, context={"request": request, "today": today()})
        data.is_valid(raise_exception=True)
        stay: dict[str, Any] = data.validated_data
        if stay["external_id"] and (known := _known_stay(request, stay["unit"], stay["external_id"])):
            return _answer_retry(request, known, stay)
        imported = reservation_import(
            unit=stay["unit"],
            guest_name=stay["guest_name"],
            guest_email=stay["guest_email"],
            arrival=stay["arrival"],
            departure=stay["departure"],
            external_id=stay["external_id"],
            source=Reservation.Source.API,
            plan_keys=stay.get("windows") or None,
            language=stay["language"],
        )
        if not imported.created:
            # The same external id booked a moment ago by a request running beside this one.
            return _answer_retry(request, imported.reservation, stay)
        reservation = selectors.reservation_for_user(user=user, pk=imported.reservation.pk)
        return _reservation_response(reservation, status.HTTP_201_CREATED)


def _known_stay(request: Request, unit: Unit, external_id: str) -> Reservation | None:
    """The stay the caller's sites know under ``external_id``: in ``unit`` first, else in any of
    their units (a stay sent again for another unit is a clash, not a new stay)."""
    known = Reservation.objects.filter(site__in=sites_for_user(user=request.user), external_id=external_id)
    return known.filter(unit=unit).first() or known.order_by("pk").first()


def _answer_retry(request: Request, known: Reservation, stay: dict[str, Any]) -> Response:
    """200 with the stay booked before when the request is the same stay again; 409 otherwise."""
    sent = (stay["unit"].pk, stay["guest_name"], stay["guest_email"], stay["arrival"], stay["departure"])
    booked = (known.unit_id, known.guest_name, known.guest_email, known.arrival, known.departure)
    if sent != booked:
        names = ["unit", "guest_name", "guest_email", "arrival", "departure"]
        differ = [name for name, a, b in zip(names, sent, booked, strict=True) if a != b]
        raise Conflict(
            f"Reservation {known.pk} has external_id “{known.external_id}” with another {', '.join(differ)}. "
            f"To move its dates, POST /api/v1/reservations/{known.pk}/change-dates/; to book another stay, "
            "send another external_id.",
            reservation=known.pk,
        )
    reservation = selectors.reservation_for_user(user=request.user, pk=known.pk)
    return _reservation_response(reservation, status.HTTP_200_OK)


def _reservation_response(reservation: Reservation, status_code: int) -> Response:
    location = reverse("api:reservation_detail", args=[reservation.pk])
    return Response(ReservationSerializer(reservation).data, status=status_code, headers={"Location": location})


@extend_schema_view(
    get=extend_schema(operation_id="reservation_retrieve", responses={200: ReservationSerializer, 404: NOT_FOUND})
)
class ReservationDetail(generics.RetrieveAPIView[Reservation]):
    """A stay, its codes door by door (never a PIN: see the reveal) and, when it needs staff, why."""

    serializer_class = ReservationSerializer

    def get_object(self) -> Reservation:
        return selectors.reservation_for_user(user=self.request.user, pk=self.kwargs["pk"])


class ReservationChangeDates(APIView):
    @extend_schema(
        operation_id="reservation_change_dates",
        request=ChangeDatesSerializer,
        responses={200: ChangeDatesResultSerializer, 400: BAD_INPUT, 404: NOT_FOUND, 409: CONFLICT},
    )
    def post(self, request: Request, pk: int) -> Response:
        """New dates for a stay. Without ``apply`` (or false): what would happen to the codes on
        each door, changing nothing. With ``apply: true``: make the change, each door by the plan
        given in ``windows`` or else the preselected one (which keeps the door's level)."""
        user = api_user(request)
        reservation = selectors.reservation_for_user(user=user, pk=pk)
        data = ChangeDatesSerializer(data=request.data, context={"today": today()})
        data.is_valid(raise_exception=True)
        change: dict[str, Any] = data.validated_data
        if reservation.is_cancelled:
            raise Conflict("This reservation is cancelled; its dates cannot change.", reservation=reservation.pk)
        keys: dict[int, str] = change.get("windows", {})
        check_doors_named(keys, {door.lock_id for door in reservation.unit.unit_doors.all()})
        if not change["apply"]:
            return Response(ChangeDatesResultSerializer(_change_preview(reservation, change, keys)).data)
        _, chosen = reservation_change_dates(
            reservation=reservation,
            arrival=change["arrival"],
            departure=change["departure"],
            plan_keys=keys,
            user=user,
        )
        optional = {door.lock_id: door.optional for door in reservation.unit.unit_doors.all()}
        answer = {
            "applied": True,
            "reservation": selectors.reservation_for_user(user=user, pk=pk),
            "doors": [
                {
                    "door": lock,
                    "optional": optional.get(lock.pk, False),
                    "plan": plan,
                    "plans": [],
                    "preselected": "",
                    "reasons": [],
                }
                for lock, plan in chosen
            ],
            "refusals": [],
        }
        return Response(ChangeDatesResultSerializer(answer).data)


def _change_preview(reservation: Reservation, change: dict[str, Any], keys: dict[int, str]) -> dict[str, Any]:
    """What the change would do on each door, with the plans given in ``keys`` or else the
    preselected ones; a key that is not offered is a 400, as applying it would be."""
    offer = change_offer(reservation=reservation, arrival=change["arrival"], departure=change["departure"])
    doors = []
    for door in offer.doors:
        plan = door.plan(keys.get(door.lock.pk)) if door.plans else None
        if door.lock.pk in keys and plan is None:
            raise serializers.ValidationError(
                {"windows": [f"That choice for {door.lock.name} is not offered for these dates."]}
            )
        doors.append(
            {
                "door": door.lock,
                "optional": door.optional,
                "plan": plan,
                "plans": door.plans,
                "preselected": door.preselected,
                "reasons": door.reasons,
            }
        )
    return {"applied": False, "reservation": reservation, "doors": doors, "refusals": offer.refusals}


class ReservationCancel(APIView):
    @extend_schema(operation_id="reservation_cancel", request=None, responses={200: CancelSerializer, 404: NOT_FOUND})
    def post(self, request: Request, pk: int) -> Response:
        """Cancel a stay. Its codes never sent to Seam are withdrawn; every other one keeps working
        until it ends (an Oracode code cannot be revoked) and is listed in the door's ledger: the
        answer lists those. Cancelling again changes nothing."""
        user = api_user(request)
        reservation = selectors.reservation_for_user(user=user, pk=pk)
        reservation_cancel(reservation=reservation, user=user)
        ledger = (
            AccessCode.objects.live(timezone.now())
            .filter(reservation=reservation)
            .exclude(ledger_reason="")
            .select_related("lock")
            .order_by("starts_at", "pk")
        )
        answer = {"reservation": selectors.reservation_for_user(user=user, pk=pk), "ledger_codes": ledger}
        return Response(CancelSerializer(answer).data)


# --- codes ---------------------------------------------------------------------------------------


class CodeReveal(APIView):
    @extend_schema(
        operation_id="code_reveal", request=None, responses={200: RevealSerializer, 404: NOT_FOUND, 409: CONFLICT}
    )
    def post(self, request: Request, pk: int) -> Response:
        """The code's PIN, recorded in the code's history (who, when) like a reveal on the
        reservation's page, and never kept by a cache (``Cache-Control: no-store``). Only for a
        code set on its lock with a PIN from Seam; otherwise 409."""
        user = api_user(request)
        code = selectors.access_code_for_user(user=user, pk=pk)
        if not pin_available(code):
            raise Conflict(
                "Seam has not given this code a PIN yet."
                if code.status == AccessCode.Status.SET
                else f"This code has no PIN to reveal: it is “{code.get_status_display()}”. A PIN is revealed once "
                "the code is set on the lock."
            )
        access_code_reveal(access_code=code, user=user)
        response = Response(RevealSerializer(code).data)
        add_never_cache_headers(response)
        return response
