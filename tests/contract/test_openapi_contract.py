"""The OpenAPI schema tells the truth: schemathesis runs every check against a live server.

A funded buyer with an API token and an active queue token calls every /api/ operation with
valid and invalid input; an undocumented answer, or input server and schema disagree on, fails.
Seeded and bounded; schemathesis.toml holds what a CLI run shares. object_level_authorization
stays idle (it needs several identities; the hold and payment tests cover others' reservations).
"""

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.services import api_tokens_issue, user_create
from booking.services import catalog_reset, catalog_seed, reservation_hold
from payments.services import payments_reset, wallet_charge
from queueing.testing import admit

pytestmark = pytest.mark.django_db(transaction=True, reset_sequences=True)

# What the run sends as Queue-Token; swapped for the buyer's active token right before each
# call (re-admitting them), so a leave or a last payment does not end the gate's checks.
ADMITTED = "admitted-queue-token"
# Per operation; the coverage phase adds its boundary and missing-value cases on top.
MAX_EXAMPLES = 15
# Call sequences, each up to so many calls long.
SCENARIOS = 25
SCENARIO_STEPS = 10
SEED = 7
# Hypothesis' health checks watch generation speed (this machine is shared) and fixtures outliving
# an example, which the buyer and the catalog do on purpose: calls change them as a client's would.
RELAXED = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
}


def _run_schema() -> schemathesis.BaseSchema:
    """The schema /api/schema serves, with the project's run settings (schemathesis.toml).

    Built when the module is collected, as schemathesis parametrizes then; the same generator
    the schema view runs, so no server is needed yet.
    """
    document = SchemaGenerator().get_schema(request=None, public=True)
    run = tomllib.loads((Path(settings.BASE_DIR) / "schemathesis.toml").read_text())
    run.update(
        seed=SEED,
        headers={"Queue-Token": ADMITTED},
        generation={"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        phases={"examples": {"enabled": False}},
    )
    return schemathesis.openapi.from_dict(
        json.loads(OpenApiJsonRenderer().render(document)),
        config=schemathesis.Config.from_dict(run),
    )


schema = _run_schema()


@dataclass
class Buyer:
    user: object
    api_key: str
    base_url: str

    def call_kwargs(self, case: schemathesis.Case) -> dict:
        """Admits the buyer again if need be, and says how to send `case` as them."""
        # Only where the run put the placeholder: a case testing a missing header keeps it out.
        if (case.headers or {}).get("Queue-Token") == ADMITTED:
            case.headers["Queue-Token"] = admit(self.user)
        return {"base_url": self.base_url, "headers": {"Authorization": f"Token {self.api_key}"}}

    def start_over(self) -> None:
        """The same catalog, balance and hold as at the start, with the same ids: a scenario's
        answers, which its later calls are drawn from, then depend on that scenario alone."""
        payments_reset()
        catalog_reset()
        _shop(self.user)


def _shop(user) -> None:
    """A small catalog, and `user` funded and holding one seat, as the services make them. Ids
    start at 1: the values the coverage phase tries first, so catalog reads, a hold (seat 1), a
    payment and a release (reservation 1) succeed too."""
    catalog_seed(concerts=2, dates_per_concert=2, seats_per_date=12, seats_per_row=6)
    wallet_charge(user=user, amount=settings.CHARGE_MAX_AMOUNT - 1)
    reservation_hold(user=user, seat_id=2)


@pytest.fixture
def buyer(live_server) -> Buyer:
    """A buyer with an API token in a small shop (reset_sequences: ids from 1)."""
    user = user_create(username="contract", password="contract-pass-123")
    _shop(user)
    key = api_tokens_issue(usernames=[user.username])[user.username]
    return Buyer(user=user, api_key=key, base_url=live_server.url)


@schema.parametrize()
@hypothesis_settings(**RELAXED)
def test_operation_keeps_its_contract(case, buyer):
    case.call_and_validate(**buyer.call_kwargs(case))


def test_call_sequences_keep_the_contract(buyer):
    """Catalog reads, holds paid for and released, chained by the ids one answer gives the next."""

    class Sequences(schema.as_state_machine()):
        def setup(self):
            buyer.start_over()

        def get_call_kwargs(self, case):
            return buyer.call_kwargs(case)

    Sequences.run(
        settings=hypothesis_settings(
            max_examples=SCENARIOS,
            stateful_step_count=SCENARIO_STEPS,
            derandomize=True,
            database=None,
            **RELAXED,
        )
    )
