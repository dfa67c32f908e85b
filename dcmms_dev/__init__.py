"""Development tooling around the deployable ``dcmms`` library: the local stack (servers, the Kinesis
poller, schedules), seeding, the ``dcmms`` command, the gateway simulator and the capacity planner.

Nothing here ships in the Lambda layer (layers/build.py copies ``shared/dcmms`` alone), and this package
may import ``functions``; ``dcmms`` never imports it (import-linter contract in ``make lint``).
"""
