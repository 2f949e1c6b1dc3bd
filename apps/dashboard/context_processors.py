from apps.dashboard.products import PRODUCTS


def navigation(request):  # noqa: ANN001, ANN201
    return {"nav_products": PRODUCTS}
