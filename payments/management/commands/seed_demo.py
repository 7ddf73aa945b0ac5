"""Demo and scale data: concerts, dates, seat maps, and users with a known password and balance."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.services import users_seed
from booking.models import Concert
from booking.services import catalog_reset, catalog_seed
from payments.services import payments_reset, wallets_seed
from queueing.services import room_save


class Command(BaseCommand):
    help = "Create demo concerts, dates, seats and users user1..userN (bulk, fast on PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--concerts", type=int, default=300)
        parser.add_argument("--dates", type=int, default=4, help="dates per concert")
        parser.add_argument("--seats", type=int, default=50, help="seats per date")
        parser.add_argument("--seats-per-row", type=int, default=10)
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--password", default="concert-demo-pass")
        parser.add_argument(
            "--balance",
            type=int,
            default=1_000_000,
            help="each demo user's balance, set through the ledger (0 leaves balances alone)",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="remove the catalog first, and with it every reservation, payment and balance",
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when concerts already exist"
        )
        parser.add_argument(
            "--on-sale-minutes",
            type=int,
            default=0,
            help="the first concert gets a room of its own whose sale starts this many minutes "
            "from now, its pre-queue already open (0: none)",
        )

    def handle(self, *args, **opts):
        for name in (
            "concerts",
            "dates",
            "seats",
            "seats_per_row",
            "users",
            "balance",
            "on_sale_minutes",
        ):
            if opts[name] < 0 or (name == "seats_per_row" and opts[name] < 1):
                self.stderr.write(f"--{name.replace('_', '-')} must be positive")
                raise SystemExit(2)
        if opts["if_empty"] and Concert.objects.exists():
            self.stdout.write("Catalog already present; nothing to do.")
            return
        if opts["reset"]:
            # Money first and in the same transaction: truncating the seats cascades into
            # reservations, payments and ledger rows but not wallets, and a balance must always
            # equal its ledger.
            with transaction.atomic():
                payments_reset()
                catalog_reset()
        made = catalog_seed(
            concerts=opts["concerts"],
            dates_per_concert=opts["dates"],
            seats_per_date=opts["seats"],
            seats_per_row=opts["seats_per_row"],
        )
        if opts["on_sale_minutes"] > 0 and made["concerts"]:
            first = Concert.objects.order_by("pk").first()
            room_save(
                concert_id=first.pk,
                sale_starts_at=timezone.now() + timedelta(minutes=opts["on_sale_minutes"]),
            )
        new_users = users_seed(count=opts["users"], password=opts["password"])
        funded = 0
        if opts["balance"]:
            names = [f"user{i}" for i in range(1, opts["users"] + 1)]
            user_ids = list(
                get_user_model().objects.filter(username__in=names).values_list("pk", flat=True)
            )
            funded = wallets_seed(user_ids=user_ids, balance=opts["balance"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {made['concerts']} concerts, {made['schedules']} dates, "
                f"{made['seats']} seats and {new_users} new users "
                f"(user1..user{opts['users']}, password {opts['password']!r}); "
                f"{funded} balances set to {opts['balance']:,}."
            )
        )
