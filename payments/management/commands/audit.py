"""Print the invariant audit; exit 1 when any invariant is broken."""

from django.core.management.base import BaseCommand, CommandError

from payments.audit import invariants_audit


class Command(BaseCommand):
    help = "Check one owner per seat, balance = ledger sum, no negative balance, sales consistent."

    def handle(self, *args, **opts):
        report = invariants_audit()
        totals = report.pop("totals")
        broken = 0
        for name, row in report.items():
            mark = "ok  " if row["count"] == 0 else "FAIL"
            broken += row["count"] > 0
            examples = f"  e.g. {row['examples']}" if row["examples"] else ""
            self.stdout.write(f"{mark} {name}: {row['count']}{examples}")
        self.stdout.write(
            f"     paid reservations {totals['paid']}, held {totals['held']}, "
            f"payments {totals['payments']}, wallets {totals['wallets']}"
        )
        if broken:
            raise CommandError(f"{broken} invariant(s) broken")
        self.stdout.write(self.style.SUCCESS("audit clean"))
