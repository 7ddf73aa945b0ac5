"""Queue writes (stub: the waiting room arrives with the queue issue)."""


def queue_release_user(*, user_id: int) -> None:
    """End the user's active token so the slot is admitted on the next tick."""
    return None


def queue_promote() -> int:
    """Admit waiting tokens in arrival order while there is capacity; returns how many."""
    return 0
