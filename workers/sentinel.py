"""Noticing a broker that lost its queues: a restart without persistence, a recreated
container. The broker holds one message nobody consumes, in a queue of its own; when that
message is gone, so are the Runs' messages that were waiting beside it, and the dispatcher
sends every Run that was sent but never started again (``workers.dispatch``) at once,
instead of after ``RUN_REPUBLISH_SECONDS``."""

from __future__ import annotations

import logging

from celery import current_app
from django.utils import timezone
from kombu import Queue

logger = logging.getLogger(__name__)

SENTINEL_QUEUE = "stepwise.broker-sentinel"


def broker_lost_its_queue() -> bool:
    """Whether the broker no longer holds the sentinel (it is planted again at once).

    True also on a broker that never held one (a fresh deployment): the Runs then sent
    again once are harmless, as each Run's claim lets one copy execute it."""
    queue = Queue(SENTINEL_QUEUE, routing_key=SENTINEL_QUEUE, durable=True)
    with current_app.connection_for_write() as conn:
        # One try: a broker that is down is the dispatcher's next pass's business, and
        # kombu's default would retry here forever.
        conn.ensure_connection(max_retries=1)
        channel = conn.default_channel
        _, count, _ = channel.queue_declare(queue=SENTINEL_QUEUE, durable=True)
        if count:
            return False
        conn.Producer(channel).publish({"planted": timezone.now().isoformat()},
                                       routing_key=SENTINEL_QUEUE, declare=[queue],
                                       retry=False)
    logger.warning("dispatcher: the broker holds no sentinel (restarted without its data?); "
                   "runs sent but not started are sent again")
    return True
