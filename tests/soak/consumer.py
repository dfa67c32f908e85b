"""Soak consumer (its own process): the local Kinesis poller feeding the real ingest handler.

``dcmms_dev.stack.LocalKinesisPoller`` reads every shard with the catalogue's StreamSource settings and
invokes ``functions.ingest.handler.lambda_handler`` as the event-source mapping would. This process
records, per batch, the iterator age as Lambda reports it (now minus the arrival time of the batch's
last record) and appends one JSON line a second to STATS_FILE: records delivered (redeliveries
included), batches, the ages seen since the last line, and ``"ready": true`` once the shards are read
from LATEST. SIGTERM stops it after a final line. What the handler prints (EMF, logs) stays on stdout.

    python -m tests.soak.consumer STATS_FILE
(settings from the DCMMS_* environment, as the ingest function reads them)
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from typing import Any

from dcmms.catalogue import by_name
from dcmms.config import get_settings
from dcmms_dev.stack import LocalKinesisPoller


class MeasuredPoller(LocalKinesisPoller):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ages_ms: list[float] = []
        self.lock = threading.Lock()

    def deliver(self, shard: str, records: list[dict[str, Any]]) -> None:
        age_ms = (time.time() - records[-1]["ApproximateArrivalTimestamp"].timestamp()) * 1000
        with self.lock:
            self.ages_ms.append(max(0.0, age_ms))
        super().deliver(shard, records)


def main() -> None:
    settings = get_settings()
    ingest = by_name("ingest")
    poller = MeasuredPoller(settings, ingest.handler, ingest.stream)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with open(sys.argv[1], "a") as out, contextlib.suppress(KeyboardInterrupt):
        poller.start()
        poller.ready.wait(60)
        while not stop.wait(1.0):
            _report(out, poller)
        poller.stop()
        poller.join(30)
        _report(out, poller, final=True)


def _report(out: Any, poller: MeasuredPoller, final: bool = False) -> None:
    with poller.lock:
        ages, poller.ages_ms = poller.ages_ms, []
    line = {
        "t": time.time(),
        "ready": poller.ready.is_set(),
        "delivered": poller.delivered,
        "batches": poller.batches,
        "ages_ms": [round(a, 1) for a in ages],
        "final": final,
    }
    print(json.dumps(line), file=out, flush=True)


if __name__ == "__main__":
    main()
