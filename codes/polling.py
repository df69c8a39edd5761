"""Polling Seam for codes waiting to be set: one ``/access_codes/list`` call per door.

Asking for each due code with ``/access_codes/get`` costs one call per code per check. The
sweeper instead groups the due codes by door, and a door with several due is asked once for
its list. That answer is stored for each due code, and for any other code of the door still
waiting that it shows set, which spares that code its own later check.

A due code missing from the list is never failed for it (a list may lag or be cut short): it
is refreshed on its own with ``/access_codes/get``, which knows whether Seam lost the code.
A failed list call falls back to the per-code path too, where each code records its error.
"""

from collections import defaultdict

from codes.models import AccessCode
from codes.services import access_code_refresh, access_code_store_check
from locks.seam import SeamClient, SeamError, seam_client_from_settings

Status = AccessCode.Status


def access_codes_by_door(access_code_ids: list[int]) -> dict[int, list[int]]:
    """The given codes grouped by door: lock id -> code ids, in id order."""
    doors: dict[int, list[int]] = defaultdict(list)
    rows = AccessCode.objects.filter(pk__in=access_code_ids).order_by("pk").values_list("lock_id", "pk")
    for lock_id, pk in rows:
        doors[lock_id].append(pk)
    return dict(doors)


def access_codes_refresh_door(
    *, lock_id: int, access_code_ids: list[int], client: SeamClient | None = None
) -> list[AccessCode]:
    """Refresh the due waiting codes of one door with a single list call; returns those rows.

    Codes no longer waiting (a webhook got there first) are skipped. One due code is asked for
    with a get, which is cheaper than listing a busy door. Seam errors never escape.
    """
    codes = list(
        AccessCode.objects.select_related("lock")
        .filter(pk__in=access_code_ids, lock_id=lock_id, status=Status.WAITING)
        .exclude(seam_access_code_id="")
        .order_by("pk")
    )
    if not codes:
        return []
    client = client or seam_client_from_settings()
    if len(codes) == 1:
        return [access_code_refresh(access_code_id=codes[0].pk, client=client)]
    try:
        listed = client.list_access_codes(codes[0].lock.seam_device_id)
    except SeamError:
        return [access_code_refresh(access_code_id=code.pk, client=client) for code in codes]
    at_seam = {seam_code.access_code_id: seam_code for seam_code in listed}

    refreshed: list[AccessCode] = []
    for code in codes:
        seam_code = at_seam.get(code.seam_access_code_id)
        if seam_code is None:
            refreshed.append(access_code_refresh(access_code_id=code.pk, client=client))
        else:
            refreshed.append(access_code_store_check(access_code_id=code.pk, seam_code=seam_code))

    # The rest of the door came with the answer: a code it shows set needs no check of its own.
    others = (
        AccessCode.objects.filter(lock_id=lock_id, status=Status.WAITING)
        .exclude(pk__in=[code.pk for code in codes])
        .exclude(seam_access_code_id="")
        .values_list("pk", "seam_access_code_id")
    )
    for pk, seam_access_code_id in others:
        seam_code = at_seam.get(seam_access_code_id)
        if seam_code is not None and seam_code.status == "set" and seam_code.code:
            access_code_store_check(access_code_id=pk, seam_code=seam_code)
    return refreshed
