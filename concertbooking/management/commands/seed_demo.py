"""Demo and scale data: concerts, dates, seat maps and users with a known password."""

from django.core.management.base import BaseCommand

from accounts.services import users_seed
from booking.models import Concert
from booking.services import catalog_reset, catalog_seed


class Command(BaseCommand):
    help = "Create demo concerts, dates, seats and users user1..userN (bulk, fast on PostgreSQL)."

    def add_arguments(self, parser):
        parser.add_argument("--concerts", type=int, default=300)
        parser.add_argument("--dates", type=int, default=4, help="dates per concert")
        parser.add_argument("--seats", type=int, default=50, help="seats per date")
        parser.add_argument("--seats-per-row", type=int, default=10)
        parser.add_argument("--users", type=int, default=200)
        parser.add_argument("--password", default="concert-demo-pass")
        parser.add_argument("--reset", action="store_true", help="remove the catalog first")
        parser.add_argument(
            "--if-empty", action="store_true", help="do nothing when concerts already exist"
        )

    def handle(self, *args, **opts):
        for name in ("concerts", "dates", "seats", "seats_per_row", "users"):
            if opts[name] < 0 or (name == "seats_per_row" and opts[name] < 1):
                self.stderr.write(f"--{name.replace('_', '-')} must be positive")
                raise SystemExit(2)
        if opts["if_empty"] and Concert.objects.exists():
            self.stdout.write("Catalog already present; nothing to do.")
            return
        if opts["reset"]:
            catalog_reset()
        made = catalog_seed(
            concerts=opts["concerts"],
            dates_per_concert=opts["dates"],
            seats_per_date=opts["seats"],
            seats_per_row=opts["seats_per_row"],
        )
        new_users = users_seed(count=opts["users"], password=opts["password"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {made['concerts']} concerts, {made['schedules']} dates, "
                f"{made['seats']} seats and {new_users} new users "
                f"(user1..user{opts['users']}, password {opts['password']!r})."
            )
        )
