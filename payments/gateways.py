"""Top-up payment gateways: how a top-up's payment starts, and how a gateway's callback is read.

PAYMENT_GATEWAY names the one that takes new top-ups. A gateway confirms a payment either at once
(its start says so) or later through a signed callback; both end in payments.services
top_up_confirm, so a top-up is credited the same way whichever gateway took it.
"""

import hashlib
import hmac
import io
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import ParseError

from concertbooking.parsers import JSONParser
from payments.errors import CallbackInvalid, CallbackSignatureInvalid, PaymentGatewayNotFound

if TYPE_CHECKING:
    from payments.models import TopUp

# The header a callback's signature comes in: the hex HMAC-SHA256 of the raw body.
SIGNATURE_HEADER = "Gateway-Signature"


@dataclass(frozen=True)
class Started:
    """A payment the gateway started for a top-up."""

    payment_id: str
    # The gateway took the money already: the top-up is confirmed without waiting for a callback.
    confirmed: bool
    # Where the buyer pays, for a gateway with a payment page of its own.
    redirect_url: str | None = None


@dataclass(frozen=True)
class Callback:
    """What a verified callback says about one of the gateway's payments."""

    payment_id: str
    paid: bool
    amount: int


class Gateway:
    """A payment provider as the top-ups see it. Subclasses name themselves and start payments;
    the callback format (a JSON body signed with PAYMENT_GATEWAY_SECRET) is shared."""

    name: ClassVar[str]

    def start(self, top_up: "TopUp") -> Started:
        """Start the payment of `top_up` (pending, not saved yet: it is saved with the payment id
        returned); runs in the top-up's transaction, under its user's lock."""
        raise NotImplementedError

    def verify(self, *, body: bytes, signature: str | None) -> Callback:
        """The callback in `body` if `signature` is its HMAC under PAYMENT_GATEWAY_SECRET, else
        CallbackSignatureInvalid; CallbackInvalid if a signed body is not a callback."""
        secret = settings.PAYMENT_GATEWAY_SECRET
        # Without a secret anyone could compute the signature: nothing is accepted then.
        if not secret or not signature:
            raise CallbackSignatureInvalid()
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
            raise CallbackSignatureInvalid()
        return self.parse(body)

    def parse(self, body: bytes) -> Callback:
        """{"payment_id": str, "status": "paid" | "failed", "amount": int}."""
        try:
            # The API's own parser: a body nested too deep is refused, not a RecursionError.
            data = JSONParser().parse(io.BytesIO(body))
        except ParseError as exc:
            raise CallbackInvalid() from exc
        if not isinstance(data, dict):
            raise CallbackInvalid()
        payment_id, status, amount = data.get("payment_id"), data.get("status"), data.get("amount")
        if (
            not isinstance(payment_id, str)
            or not 0 < len(payment_id) <= 255
            or status not in ("paid", "failed")
            or type(amount) is not int
        ):
            raise CallbackInvalid()
        return Callback(payment_id=payment_id, paid=status == "paid", amount=amount)


class SandboxGateway(Gateway):
    """Confirms every payment at once, and takes no money: for local runs, tests and load tests
    (settings refuse it with DEBUG off unless PAYMENT_GATEWAY_SANDBOX_ALLOWED)."""

    name = "sandbox"

    def start(self, top_up: "TopUp") -> Started:
        return Started(payment_id=f"sandbox-{uuid.uuid4().hex}", confirmed=True)


class DeferredGateway(Gateway):
    """Confirms only through its signed callback, as a provider with a payment page does; the
    shape of a real integration, and what the callback's tests drive."""

    name = "deferred"

    def start(self, top_up: "TopUp") -> Started:
        return Started(payment_id=f"deferred-{uuid.uuid4().hex}", confirmed=False)


GATEWAYS: dict[str, type[Gateway]] = {
    gateway.name: gateway for gateway in (SandboxGateway, DeferredGateway)
}


def gateway_named(name: str) -> Gateway:
    """The gateway called `name`, or PaymentGatewayNotFound."""
    try:
        return GATEWAYS[name]()
    except KeyError:
        raise PaymentGatewayNotFound() from None


def gateway_current() -> Gateway:
    """The gateway that takes new top-ups (PAYMENT_GATEWAY)."""
    try:
        return GATEWAYS[settings.PAYMENT_GATEWAY]()
    except KeyError:
        raise ImproperlyConfigured(
            f"PAYMENT_GATEWAY must be one of {', '.join(sorted(GATEWAYS))}."
        ) from None
