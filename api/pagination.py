"""The reservation list's pages: counted only as far as the page asked for needs
(:mod:`config.paging`), so that a call costs the same with ten stays behind it as with a
hundred thousand."""

from typing import Any, TypeVar

from django.core.paginator import InvalidPage
from django.db.models import Model, QuerySet
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.paging import COUNTED_ROWS, CountedPaginator, page_asked

M = TypeVar("M", bound=Model)


class CountedPagination(PageNumberPagination):
    """``PageNumberPagination`` whose ``count`` is exact up to ``COUNTED_ROWS`` rows (more for a
    page past those) and null beyond: follow ``next`` to the end. ``?page=last`` counts every row."""

    def paginate_queryset(
        self, queryset: QuerySet[M], request: Request, view: APIView | None = None
    ) -> list[M] | None:
        self.request = request
        page_size = self.get_page_size(request)
        if not page_size:
            return None
        asked = request.query_params.get(self.page_query_param) or 1
        last = asked in self.last_page_strings
        paginator = CountedPaginator(queryset, page_size, number=None if last else page_asked(asked))
        number = paginator.num_pages if last else asked
        try:
            self.page = paginator.page(number)
        except InvalidPage as exc:
            raise NotFound(self.invalid_page_message.format(page_number=number, message=str(exc))) from exc
        return list(self.page)

    def get_paginated_response(self, data: Any) -> Response:
        assert self.page is not None
        paginator = self.page.paginator
        assert isinstance(paginator, CountedPaginator)
        return Response(
            {
                "count": None if paginator.more else paginator.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["properties"]["count"] = {
            "type": "integer",
            "nullable": True,
            "example": 123,
            "description": f"How many match, when there are at most {COUNTED_ROWS} (or, for a later page, "
            f"up to the next multiple of {COUNTED_ROWS} past it); null when there are more: follow `next`.",
        }
        return answer
