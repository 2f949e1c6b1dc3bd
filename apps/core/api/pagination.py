from rest_framework import pagination

from apps.core.params import int_param

MAX_PAGE = 10**9


class PageNumberPagination(pagination.PageNumberPagination):
    """``page`` and ``page_size`` are validated: a malformed or out-of-range value is a 400, a page past the end a 404."""

    page_size_query_param = "page_size"
    max_page_size = 500
    last_page_strings = ()

    def get_page_size(self, request) -> int:  # noqa: ANN001
        return int_param(
            request.query_params.get(self.page_size_query_param), name=self.page_size_query_param, minimum=1, maximum=self.max_page_size, default=self.page_size
        )

    def paginate_queryset(self, queryset, request, view=None):  # noqa: ANN001, ANN201
        int_param(request.query_params.get(self.page_query_param), name=self.page_query_param, minimum=1, maximum=MAX_PAGE)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):  # noqa: ANN001, ANN201
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: (1, MAX_PAGE), self.page_size_query_param: (1, self.max_page_size)}
        for parameter in parameters:
            if parameter["name"] in bounds:
                low, high = bounds[parameter["name"]]
                parameter["schema"] = {**parameter["schema"], "minimum": low, "maximum": high}
        return parameters
