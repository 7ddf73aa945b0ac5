"""Money reads."""

from payments.models import Wallet


def wallet_balance(*, user_id: int) -> int:
    """The user's balance; a user who never topped up has no wallet row and a balance of 0."""
    return Wallet.objects.filter(user_id=user_id).values_list("balance", flat=True).first() or 0
