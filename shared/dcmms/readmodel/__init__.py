"""The query side: a PostgreSQL read model of the operational tables, fed by DynamoDB Streams (``projector``),
searched (``search``), reached through the read-replica router (``router``). DynamoDB stays the system of
record; nothing here is written by the API.
"""
