"""Orders, shipments and refunds: the embedded store and the adapter to a shop backend."""

from .backend import EmbeddedShop, HttpShop, ShopBackend
from .models import OrderStatus, RefundStatus
from .policy import Eligibility, RefundPolicy, idempotency_key
from .views import CustomerInfo, OrderDetails, RefundInfo, RefundOutcome, ShopError, is_order_number

__all__ = [
    "CustomerInfo",
    "Eligibility",
    "EmbeddedShop",
    "HttpShop",
    "OrderDetails",
    "OrderStatus",
    "RefundInfo",
    "RefundOutcome",
    "RefundPolicy",
    "RefundStatus",
    "ShopBackend",
    "ShopError",
    "idempotency_key",
    "is_order_number",
]
