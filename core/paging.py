"""Paging that costs the same on the last page as on the first.

Django's `Paginator` reads page n with `OFFSET (n-1)·size`: the database walks every row before the
page, so the last page of a 20 000-basis month reads 20 000 index entries to show 50. Here a page in
the second half is read from the other end instead, with the ordering reversed and an offset from
the end, then put back in order: no page walks more than half the rows.

Reversing is an exact mirror only when the ordering is total, so a queryset whose ordering does not
end with its primary key (`id`/`pk`, either direction) is paged the usual way.
"""

from __future__ import annotations

from typing import Any, TypeGuard

from django.core import paginator
from django.db.models import QuerySet

_UNIQUE_LAST = frozenset({"id", "-id", "pk", "-pk"})


class Paginator(paginator.Paginator):
    def page(self, number: Any) -> paginator.Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        from_end = self.count - top
        object_list = self.object_list
        if from_end < bottom and _totally_ordered(object_list):
            items = list(object_list.reverse()[from_end : self.count - bottom])
            items.reverse()
            return paginator.Page(items, number, self)
        return super().page(number)


def _totally_ordered(object_list: Any) -> TypeGuard[QuerySet[Any]]:
    if not isinstance(object_list, QuerySet):
        return False
    ordering = object_list.query.order_by
    return bool(ordering) and isinstance(ordering[-1], str) and ordering[-1] in _UNIQUE_LAST
