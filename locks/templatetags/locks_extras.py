from django import template

from locks.timeslots import SlotDescription
from locks.timeslots import describe_slots as _describe_slots

register = template.Library()


@register.filter
def describe_slots(time_slots: object) -> list[SlotDescription]:
    return _describe_slots(time_slots)
