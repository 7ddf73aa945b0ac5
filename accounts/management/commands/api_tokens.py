"""Write API tokens of demo users to a CSV file, for load tests that must not measure sign-in."""

import csv

from django.core.management.base import BaseCommand

from accounts.services import api_tokens_issue


class Command(BaseCommand):
    help = "Create (or reuse) API tokens for <prefix>1..<prefix>N and write username,token rows."

    def add_arguments(self, parser):
        parser.add_argument("--users", type=int, required=True)
        parser.add_argument("--prefix", default="user")
        parser.add_argument("--out", required=True, help="CSV file to write")

    def handle(self, *args, **opts):
        names = [f"{opts['prefix']}{i}" for i in range(1, opts["users"] + 1)]
        tokens = api_tokens_issue(usernames=names)
        with open(opts["out"], "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["username", "token"])
            for name in names:
                if name in tokens:
                    writer.writerow([name, tokens[name]])
        self.stdout.write(f"Wrote {len(tokens)} tokens to {opts['out']}.")
