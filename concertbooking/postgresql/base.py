"""Django's PostgreSQL backend, its CONN_HEALTH_CHECKS made without a round trip while it can.

A server that ends a session sends its FATAL notice and closes the socket, which turns it
readable; an idle, sound connection has nothing to read. So the socket is polled without
waiting, and anything to read falls back to Django's own SELECT 1.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self):
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and self._idle_and_quiet()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _idle_and_quiet(self) -> bool:
        """Whether the connection is open, outside a transaction, with nothing to read."""
        connection = self.connection
        if connection.closed or connection.info.transaction_status != TransactionStatus.IDLE:
            return False
        try:
            poller = select.poll()
            poller.register(connection.fileno(), select.POLLIN | select.POLLPRI)
            return not poller.poll(0)
        except (AttributeError, OSError, ValueError):  # no poll() here, or a socket gone
            return False
