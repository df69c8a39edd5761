"""The simulator's demo doors: dormakaba Oracode doors on several sites, plus one other lock.

The sites cover the time-zone cases that matter: a northern-hemisphere DST zone
(Los Angeles), a southern-hemisphere one (Sydney), a half-hour zone (St John's), Europe
(Lisbon), and a door whose lock zone disagrees with its slot zone (Denver vs Phoenix,
flagged with a ``time_zone_mismatch`` warning). Harbour View is an apartment building: its
street door is shared by the apartments, so a guest there needs a code on two doors. Device
ids are constants so a restarted simulator keeps them. Slot payloads vary the way Seam's
do: bracket-only times or times with an offset (right for part of the year only), and either
name of the prefix field. Two doors say how many live codes they hold
(``max_active_codes_supported``: Room 102 and Apartment 2B); the others, like many real
ones, do not say.
"""

import uuid
from dataclasses import dataclass
from typing import Any

WORKSPACE_ID = "5e4a0000-0000-4000-8000-00000000a001"
CONNECTED_ACCOUNT_ID = "5e4a0000-0000-4000-8000-00000000ca01"
CREATED_AT = "2024-06-01T09:00:00.000Z"

OCEAN_BEACH_ROOM_101 = "d0000001-0cea-4b00-8000-000000000101"
OCEAN_BEACH_ROOM_102 = "d0000001-0cea-4b00-8000-000000000102"
OCEAN_BEACH_BEACH_HOUSE = "d0000001-0cea-4b00-8000-000000000201"
HARBOUR_VIEW_STREET_DOOR = "d0000002-4a2b-4b00-8000-000000000001"
HARBOUR_VIEW_APARTMENT_1A = "d0000002-4a2b-4b00-8000-0000000001a1"
HARBOUR_VIEW_APARTMENT_2B = "d0000002-4a2b-4b00-8000-0000000002b2"
SIGNAL_HILL_ROOM_1 = "d0000003-5191-4b00-8000-000000000001"
SIGNAL_HILL_ROOM_2 = "d0000003-5191-4b00-8000-000000000002"
ALFAMA_ROOM_3 = "d0000004-1150-4b00-8000-000000000003"
LAKESIDE_CABIN_7 = "d0000005-1a4e-4b00-8000-000000000007"
AUGUST_OFFICE_DOOR = "d0000009-a065-4b00-8000-000000000001"

# User level ids are derived, not typed out: stable across restarts all the same.
_LEVEL_NAMESPACE = uuid.UUID("5e4a0000-0000-4000-8000-0000000011e1")

NEW_PREFIX_FIELD = "dormakaba_oracode_user_level_prefix"
OLD_PREFIX_FIELD = "ext_dormakaba_oracode_user_level_prefix"


@dataclass(frozen=True)
class Site:
    site_id: int
    name: str
    iana_timezone: str


OCEAN_BEACH = Site(101, "Ocean Beach Vacations", "America/Los_Angeles")
HARBOUR_VIEW = Site(202, "Harbour View Apartments", "Australia/Sydney")
SIGNAL_HILL = Site(303, "Signal Hill Inn", "America/St_Johns")
CASA_ALFAMA = Site(404, "Casa Alfama Guesthouse", "Europe/Lisbon")
# Connected with Denver's zone while its user levels are in Phoenix time: see _lakeside().
LAKESIDE = Site(505, "Lakeside Cabins", "America/Denver")
# Extra doors for benchmarks (``--bench-doors``): one plain guest level each, in Lisbon time.
BENCH_SITE = Site(909, "Benchmark Suites", "Europe/Lisbon")
_BENCH_NAMESPACE = uuid.UUID("5e4a0000-0000-4000-8000-00000000b001")


def _slot(
    door_id: str,
    name: str,
    prefix: int,
    check_in: str,
    check_out: str,
    zone: str,
    *,
    offset: str = "",
    prefix_field: str = NEW_PREFIX_FIELD,
    is_master: bool = False,
    is_24_hour: bool = False,
    is_one_shot: bool = False,
    is_biweekly_mode: bool = False,
) -> dict[str, Any]:
    """One user level. ``offset`` writes times as ``15:00:00-08:00[Zone]``, as newer payloads do."""
    return {
        "name": name,
        "prefix": prefix,
        "is_master": is_master,
        "is_24_hour": is_24_hour,
        "is_one_shot": is_one_shot,
        "is_biweekly_mode": is_biweekly_mode,
        "check_in_time": f"{check_in}:00{offset}[{zone}]",
        "check_out_time": f"{check_out}:00{offset}[{zone}]",
        "dormakaba_oracode_user_level_id": str(uuid.uuid5(_LEVEL_NAMESPACE, f"{door_id}/{name}")),
        prefix_field: prefix,
    }


def _door(
    device_id: str,
    site: Site,
    *,
    name: str,
    door_id: int,
    slots: list[dict[str, Any]],
    warnings: list[dict[str, Any]] | None = None,
    max_active_codes: int | None = None,
) -> dict[str, Any]:
    room = {} if max_active_codes is None else {"max_active_codes_supported": max_active_codes}
    return {
        "device_id": device_id,
        "device_type": "dormakaba_oracode_door",
        "display_name": name,
        "can_program_offline_access_codes": True,
        "can_program_online_access_codes": False,
        "capabilities_supported": ["access_code"],
        "connected_account_id": CONNECTED_ACCOUNT_ID,
        "is_managed": True,
        "errors": [],
        "warnings": warnings or [],
        "properties": {
            "online": True,
            "name": name,
            "manufacturer": "dormakaba_oracode",
            "model": {"display_name": "Oracode", "manufacturer_display_name": "dormakaba"},
            **room,
            "dormakaba_oracode_metadata": {
                "device_id": f"OC-{site.site_id}-{door_id}",
                "door_id": door_id,
                "door_name": name,
                "door_is_wireless": False,
                "site_id": site.site_id,
                "site_name": site.name,
                "iana_timezone": site.iana_timezone,
                "predefined_time_slots": slots,
            },
        },
        "workspace_id": WORKSPACE_ID,
        "created_at": CREATED_AT,
    }


def _ocean_beach() -> list[dict[str, Any]]:
    site = OCEAN_BEACH
    zone = site.iana_timezone
    room_101 = OCEAN_BEACH_ROOM_101
    room_102 = OCEAN_BEACH_ROOM_102
    house = OCEAN_BEACH_BEACH_HOUSE
    old = OLD_PREFIX_FIELD
    return [
        _door(
            room_101,
            site,
            name="Room 101",
            door_id=12,
            slots=[
                _slot(room_101, "Guest 15:00-11:00", 1, "15:00", "11:00", zone),
                _slot(room_101, "Guest 16:00-10:00", 2, "16:00", "10:00", zone),
                _slot(room_101, "Day use 07:00-19:00", 3, "07:00", "19:00", zone),
                _slot(room_101, "Daily 14:00-14:00", 4, "14:00", "14:00", zone, is_24_hour=True),
                _slot(room_101, "Biweekly 16:00-11:00", 5, "16:00", "11:00", zone, is_biweekly_mode=True),
                _slot(room_101, "Cleaner one-shot 09:00-17:00", 8, "09:00", "17:00", zone, is_one_shot=True),
                _slot(room_101, "Master", 9, "00:00", "00:00", zone, is_master=True),
            ],
        ),
        _door(
            room_102,
            site,
            name="Room 102",
            door_id=13,
            max_active_codes=100,
            slots=[
                _slot(room_102, "Guest 15:00-11:00", 1, "15:00", "11:00", zone, offset="-08:00", prefix_field=old),
                _slot(room_102, "Guest 16:00-10:00", 2, "16:00", "10:00", zone, offset="-08:00", prefix_field=old),
                _slot(
                    room_102,
                    "Daily 14:00-14:00",
                    4,
                    "14:00",
                    "14:00",
                    zone,
                    offset="-08:00",
                    prefix_field=old,
                    is_24_hour=True,
                ),
                _slot(
                    room_102, "Master", 9, "00:00", "00:00", zone, offset="-08:00", prefix_field=old, is_master=True
                ),
            ],
        ),
        _door(
            house,
            site,
            name="Beach House Front Door",
            door_id=20,
            slots=[
                _slot(house, "Guest 16:00-10:00", 1, "16:00", "10:00", zone, offset="-07:00"),
                _slot(house, "Daily 15:00-15:00", 2, "15:00", "15:00", zone, is_24_hour=True),
                _slot(house, "Cleaner one-shot 11:00-15:00", 7, "11:00", "15:00", zone, is_one_shot=True),
                _slot(house, "Owner", 0, "00:00", "00:00", zone, is_master=True),
            ],
        ),
    ]


def _harbour_view() -> list[dict[str, Any]]:
    site = HARBOUR_VIEW
    zone = site.iana_timezone
    street = HARBOUR_VIEW_STREET_DOOR
    flat_1a = HARBOUR_VIEW_APARTMENT_1A
    flat_2b = HARBOUR_VIEW_APARTMENT_2B
    old = OLD_PREFIX_FIELD
    return [
        # The building's street door, shared by every apartment. Its daily-bound level runs noon
        # to noon: it opens no later than any apartment level's check-in and closes no earlier
        # than any check-out, so whichever level an apartment's code is on, the street door lets
        # the guest in while it works. (Midnight to midnight would lock a guest out of the
        # building on the morning they leave.) Its guest level matches the apartments' own.
        _door(
            street,
            site,
            name="Street Door",
            door_id=1,
            slots=[
                _slot(street, "Residents 12:00-12:00", 5, "12:00", "12:00", zone, is_24_hour=True),
                _slot(street, "Guest 15:00-11:00", 6, "15:00", "11:00", zone),
                _slot(street, "Master", 0, "00:00", "00:00", zone, is_master=True),
            ],
        ),
        _door(
            flat_1a,
            site,
            name="Apartment 1A",
            door_id=101,
            slots=[
                _slot(flat_1a, "Guest 14:00-10:00", 1, "14:00", "10:00", zone, prefix_field=old),
                _slot(flat_1a, "Guest 15:00-11:00", 2, "15:00", "11:00", zone, prefix_field=old),
                _slot(flat_1a, "Daily 12:00-12:00", 3, "12:00", "12:00", zone, prefix_field=old, is_24_hour=True),
                _slot(
                    flat_1a, "Biweekly 15:00-10:00", 4, "15:00", "10:00", zone, prefix_field=old, is_biweekly_mode=True
                ),
                _slot(flat_1a, "Master", 0, "00:00", "00:00", zone, prefix_field=old, is_master=True),
            ],
        ),
        _door(
            flat_2b,
            site,
            name="Apartment 2B",
            door_id=202,
            max_active_codes=60,
            # Two-digit prefixes, and AEST offsets that are wrong all summer.
            slots=[
                _slot(flat_2b, "Guest 14:00-10:00", 21, "14:00", "10:00", zone, offset="+10:00"),
                _slot(flat_2b, "Guest 15:00-11:00", 22, "15:00", "11:00", zone, offset="+10:00"),
                _slot(flat_2b, "Daily 12:00-12:00", 23, "12:00", "12:00", zone, offset="+10:00", is_24_hour=True),
                _slot(flat_2b, "Master", 20, "00:00", "00:00", zone, offset="+10:00", is_master=True),
            ],
        ),
    ]


def _signal_hill() -> list[dict[str, Any]]:
    site = SIGNAL_HILL
    zone = site.iana_timezone
    room_1 = SIGNAL_HILL_ROOM_1
    room_2 = SIGNAL_HILL_ROOM_2
    return [
        _door(
            room_1,
            site,
            name="Room 1",
            door_id=1,
            slots=[
                _slot(room_1, "Guest 15:00-11:00", 1, "15:00", "11:00", zone, offset="-03:30"),
                _slot(room_1, "Guest 14:30-10:30", 2, "14:30", "10:30", zone, offset="-03:30"),
                _slot(room_1, "Daily 13:30-13:30", 3, "13:30", "13:30", zone, offset="-03:30", is_24_hour=True),
                _slot(room_1, "Biweekly 16:00-11:00", 4, "16:00", "11:00", zone, is_biweekly_mode=True),
                _slot(room_1, "One-shot 10:00-16:00", 7, "10:00", "16:00", zone, is_one_shot=True),
                _slot(room_1, "Master", 9, "00:00", "00:00", zone, is_master=True),
            ],
        ),
        _door(
            room_2,
            site,
            name="Room 2",
            door_id=2,
            slots=[
                _slot(room_2, "Guest 15:00-11:00", 1, "15:00", "11:00", zone, prefix_field=OLD_PREFIX_FIELD),
                _slot(room_2, "Guest 14:30-10:30", 2, "14:30", "10:30", zone, prefix_field=OLD_PREFIX_FIELD),
                _slot(room_2, "Master", 9, "00:00", "00:00", zone, prefix_field=OLD_PREFIX_FIELD, is_master=True),
            ],
        ),
    ]


def _alfama() -> list[dict[str, Any]]:
    site = CASA_ALFAMA
    zone = site.iana_timezone
    room_3 = ALFAMA_ROOM_3
    return [
        _door(
            room_3,
            site,
            name="Quarto 3",
            door_id=3,
            slots=[
                _slot(room_3, "Guest 15:00-11:00", 1, "15:00", "11:00", zone),
                _slot(room_3, "Guest 16:00-12:00", 2, "16:00", "12:00", zone, offset="+00:00"),
                _slot(room_3, "Daily 10:00-10:00", 3, "10:00", "10:00", zone, is_24_hour=True),
                _slot(room_3, "Master", 0, "00:00", "00:00", zone, is_master=True),
            ],
        ),
    ]


def _lakeside() -> list[dict[str, Any]]:
    # The site was connected with Denver's zone but the levels are in Phoenix time: the two agree
    # in winter and differ by an hour all summer, the kind of mistake that shifts every code.
    site = LAKESIDE
    zone = "America/Phoenix"
    cabin = LAKESIDE_CABIN_7
    mismatch = {
        "warning_code": "time_zone_mismatch",
        "message": (
            "The time zone of this door's site (America/Denver) does not match the time zone of its "
            "time slots (America/Phoenix). Check the site's time zone before issuing codes."
        ),
        "created_at": CREATED_AT,
    }
    return [
        _door(
            cabin,
            site,
            name="Cabin 7",
            door_id=7,
            warnings=[mismatch],
            slots=[
                _slot(cabin, "Guest 16:00-10:00", 1, "16:00", "10:00", zone),
                _slot(cabin, "Daily 15:00-15:00", 2, "15:00", "15:00", zone, is_24_hour=True),
            ],
        ),
    ]


def _august() -> dict[str, Any]:
    # Not an Oracode door: there so that filtering by manufacturer matters.
    return {
        "device_id": AUGUST_OFFICE_DOOR,
        "device_type": "august_lock",
        "display_name": "Office Back Door",
        "can_program_offline_access_codes": False,
        "can_program_online_access_codes": True,
        "capabilities_supported": ["access_code", "lock"],
        "connected_account_id": CONNECTED_ACCOUNT_ID,
        "is_managed": True,
        "errors": [],
        "warnings": [],
        "properties": {
            "online": True,
            "name": "Office Back Door",
            "manufacturer": "august",
            "locked": True,
            "august_metadata": {"lock_id": "AUG-0001", "lock_name": "Office Back Door", "house_name": "Office"},
        },
        "workspace_id": WORKSPACE_ID,
        "created_at": CREATED_AT,
    }


def bench_device_id(number: int) -> str:
    """The stable device id of benchmark door ``number`` (1-based)."""
    return str(uuid.uuid5(_BENCH_NAMESPACE, f"door-{number}"))


def bench_devices(count: int) -> list[dict[str, Any]]:
    """``count`` extra Oracode doors, "Suite 1" to "Suite <count>", for load and throughput runs."""
    zone = BENCH_SITE.iana_timezone
    return [
        _door(
            bench_device_id(number),
            BENCH_SITE,
            name=f"Suite {number}",
            door_id=1000 + number,
            slots=[_slot(bench_device_id(number), "Guest 15:00-11:00", 1, "15:00", "11:00", zone)],
        )
        for number in range(1, count + 1)
    ]


def demo_devices() -> list[dict[str, Any]]:
    """Every demo device as Seam's ``/devices/list`` shows it (fresh dicts on each call)."""
    return [*_ocean_beach(), *_harbour_view(), *_signal_hill(), *_alfama(), *_lakeside(), _august()]
