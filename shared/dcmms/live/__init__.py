"""Live updates (docs/live.md): alerts and the open site's readings pushed to browsers over API Gateway's WebSocket
API, so they change on screen within seconds without a reload; conditional polling (ETag/304) is the fallback.

- ``frames``: the protocol's frames, both ways.
- ``sockets``: the ``live`` function's routes: ``$connect`` (the person's token, verified as a Bearer token is),
  ``$disconnect``, ``$default`` (subscribe, unsubscribe, ping) and the frames other functions relay to it.
- ``publisher``: who is told what: an alert's change to every connection of its tenant, a site's newest readings
  (at most one frame per asset per ``live_readings_interval_s``) to the site's subscribers; frames are posted with
  API Gateway's ``@connections`` API, or relayed to the ``live`` function by a function inside the VPC.

Nothing here is imported at the API's cold start: ``dcmms.runtime`` builds it on the first alert that changes.
"""
