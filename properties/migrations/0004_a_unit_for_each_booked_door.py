from typing import Any

from django.db import migrations


def units_from_doors(apps: Any, schema_editor: Any) -> None:
    """Each door that has reservations becomes a unit of that one door, named after it, and
    its reservations book that unit."""
    Reservation = apps.get_model("properties", "Reservation")
    Unit = apps.get_model("properties", "Unit")
    UnitDoor = apps.get_model("properties", "UnitDoor")
    Lock = apps.get_model("locks", "Lock")
    for lock in Lock.objects.filter(pk__in=Reservation.objects.values("lock_id")).order_by("pk"):
        name, n = lock.name, 1
        while Unit.objects.filter(site_id=lock.site_id, name=name).exists():
            n += 1
            name = f"{lock.name} ({n})"
        unit = Unit.objects.create(site_id=lock.site_id, name=name)
        UnitDoor.objects.create(unit=unit, lock=lock, position=0)
        Reservation.objects.filter(lock=lock).update(unit=unit)


def doors_from_units(apps: Any, schema_editor: Any) -> None:
    Reservation = apps.get_model("properties", "Reservation")
    UnitDoor = apps.get_model("properties", "UnitDoor")
    for unit_door in UnitDoor.objects.filter(position=0).order_by("pk"):
        Reservation.objects.filter(unit_id=unit_door.unit_id, lock__isnull=True).update(lock_id=unit_door.lock_id)


class Migration(migrations.Migration):
    dependencies = [("properties", "0003_units")]

    operations = [migrations.RunPython(units_from_doors, doors_from_units)]
