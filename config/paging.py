"""Pages of lists that grow with the years of business (reservations, the ledger): their rows
are counted only as far as the page asked for needs, not to the end of the table.

Django's ``Paginator`` counts every matching row to say "page 1 of N" (``COUNT(*)``), and that
count costs as much as the table is long: with a year of stays behind it, most of a list page's
time went to counting rows nobody pages to. Here the rows are counted in blocks of
``COUNTED_ROWS``, up to the end of the block the asked page falls in, plus one row to tell
whether there are more. A list shorter than a block gets its exact count, as before.
"""

import math
from typing import TypeVar

from django.core.paginator import Page, Paginator
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property

COUNTED_ROWS = 1000

M = TypeVar("M", bound=Model)


def page_asked(number: object) -> int:
    """The page number from a query string, as ``Paginator.get_page`` would read it: 1 for
    anything that is not a whole number of at least 1."""
    try:
        return max(int(str(number)), 1)
    except ValueError:
        return 1


class CountedPaginator(Paginator[M]):
    """A paginator over a queryset whose rows are counted only as far as the block of
    ``block`` rows that ends at or after page ``number`` (``None``: every row, for a "last page").

    ``more`` says whether rows exist past those counted; ``count`` is then one more than were
    counted, so that the page after the last counted one exists and "Next" leads to it.
    """

    object_list: QuerySet[M]

    def __init__(
        self, object_list: QuerySet[M], per_page: int, *, number: int | None, block: int = COUNTED_ROWS
    ) -> None:
        super().__init__(object_list, per_page)
        block = max(block, per_page)
        self.counted_to = None if number is None else math.ceil(number * per_page / block) * block
        self.more = False

    @cached_property
    def count(self) -> int:
        if self.counted_to is None:
            return self.object_list.count()
        # Unordered: the database may stop at any counted_to + 1 rows, without sorting them.
        counted = self.object_list.order_by()[: self.counted_to + 1].count()
        self.more = counted > self.counted_to
        return counted


def counted_page(object_list: QuerySet[M], per_page: int, asked: object) -> Page[M]:
    """The page ``asked`` for (a query string's value, read as ``page_asked`` reads it) of
    ``object_list``, counted only as far as that page needs."""
    number = page_asked(asked)
    return CountedPaginator(object_list, per_page, number=number).get_page(number)
