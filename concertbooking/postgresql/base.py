"""Django's PostgreSQL backend with a health check that costs no round trip while it can.

With CONN_HEALTH_CHECKS, Django checks a persistent connection once per request before its
first query by sending SELECT 1: one more round trip on every request that touches the
database, which for a hold or a payment (one function call each) doubles their round trips.

A server that ends a session (a restart, pg_terminate_backend, idle_session_timeout) sends its
FATAL notice and closes the socket, so the socket turns readable. An idle connection that is
sound has nothing to read. So: the socket is polled without waiting; nothing to read means
sound, anything to read (or a connection not idle) falls back to Django's SELECT 1, which fails
and reconnects where the session is gone. A peer that vanished without closing (a cut cable)
is caught by neither check until the query itself times out, as before.
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
