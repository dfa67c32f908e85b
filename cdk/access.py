"""What each catalogue function touches, so that each gets exactly those grants and settings.

Read from the code (handlers, services, repositories), operation by operation: pynamodb ``get`` is
GetItem, ``query`` (tables and GSIs) is Query, ``save`` is PutItem (conditional creates and versioned
replaces), ``delete`` is DeleteItem, ``scan`` is Scan, ``update`` is UpdateItem (only an API key's revocation);
nothing in the functions uses batch writes (those are the seed's). A function missing here gets no data access
and a synth warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

GET = "dynamodb:GetItem"
QUERY = "dynamodb:Query"
PUT = "dynamodb:PutItem"
DELETE = "dynamodb:DeleteItem"
SCAN = "dynamodb:Scan"
UPDATE = "dynamodb:UpdateItem"

READ = (GET, QUERY)
READ_WRITE = (GET, QUERY, PUT)
READ_WRITE_DELETE = (GET, QUERY, PUT, DELETE)


@dataclass(frozen=True)
class Access:
    # table base name -> DynamoDB actions (Query also covers the table's GSIs)
    tables: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    redis: bool = False
    postgres: bool = False
    kinesis_put: bool = False  # PutRecord/PutRecords on the telemetry stream, nothing else on Kinesis
    kinesis_consume: bool = False  # the event-source mapping's reads, through the function's role
    # DynamoDB Streams of the catalogue's StreamSource.tables, read by the event-source mappings through the
    # function's role (stream ARNs only; ListStreams has no resource): no item action on any table.
    table_streams_consume: bool = False
    dead_letter_write: bool = False  # PutObject under the dead-letter prefix
    # SendMessage on these job queues (catalogue QueueSource.queue names); each also gets the queue's URL.
    queues_send: tuple[str, ...] = ()
    reports_read: bool = False  # GetObject under reports/ of the reports bucket
    reports_write: bool = False  # PutObject under reports/ of the reports bucket
    # ses:SendEmail/SendRawEmail through the configured SES identity, as the configured sender only.
    report_email: bool = False
    # The user pool and its web client (DCMMS_COGNITO_USER_POOL_ID, DCMMS_COGNITO_CLIENT_ID): people's tokens are
    # verified against the pool's public JWKS, which needs no grant.
    cognito: bool = False
    # cognito-idp actions on the environment's user pool (people management), nothing on any other pool.
    cognito_admin: tuple[str, ...] = ()
    # The tiers' usage plans (DCMMS_USAGE_PLAN_IDS): create API Gateway keys, put them in a tier's plan, take
    # them out and delete them (the keys dCMMS issues and revokes), never the people usage keys.
    usage_plan_keys: bool = False
    # The people usage keys (DCMMS_PEOPLE_USAGE_KEY_IDS): apigateway:GET on exactly those keys (their values).
    people_usage_keys: bool = False
    # The identity providers' tenants (DCMMS_IDENTITY_PROVIDER_TENANTS, JSON {provider name: tenant id}).
    identity_provider_tenants: bool = False
    # Live updates (cdk/live.py): post frames to the WebSocket API's connections and close them
    # (execute-api:ManageConnections on its stage's POST and DELETE @connections/*, DCMMS_LIVE_ENDPOINT_URL) ...
    live_post: bool = False
    # ... or, from inside the VPC (no route to the public @connections endpoint), hand them to the live function by an
    # asynchronous invoke (lambda:InvokeFunction on that function only, DCMMS_LIVE_RELAY_FUNCTION).
    live_relay: bool = False


# The management API's people operations (dcmms.store.identity.CognitoPeople): invite, read, group (role),
# disable/enable (with a global sign-out) and delete.
COGNITO_PEOPLE = (
    "cognito-idp:AdminCreateUser",
    "cognito-idp:AdminGetUser",
    "cognito-idp:AdminAddUserToGroup",
    "cognito-idp:AdminRemoveUserFromGroup",
    "cognito-idp:AdminListGroupsForUser",
    "cognito-idp:AdminDisableUser",
    "cognito-idp:AdminEnableUser",
    "cognito-idp:AdminDeleteUser",
    "cognito-idp:AdminUserGlobalSignOut",
)


ACCESS: Mapping[str, Access] = {
    # FastAPI app: API keys and people's tokens (auth), the fleet and work (CRUD; DELETE exists for sites, assets
    # and rules), telemetry queries (PostgreSQL) and POST /api/v1/telemetry/ingest (Kinesis PutRecords). The
    # management API (users, api-keys, me): people in the pool and their records (users: tombstoned, never
    # deleted), keys issued (conditional put), listed by tenant (GSI) and revoked (UpdateItem), each change in
    # the audit trail; a person's token is checked against their tenant's tier and their standing (users).
    "api": Access(
        tables={
            "api-keys": (GET, QUERY, PUT, UPDATE),
            "tenants": (GET,),
            "users": READ_WRITE,
            "audit": READ_WRITE,
            "sites": READ_WRITE_DELETE,
            "assets": READ_WRITE_DELETE,
            "work-orders": READ_WRITE,
            "alerts": READ_WRITE,
            "alert-rules": READ_WRITE_DELETE,
            # report requests and their status; report subscriptions (create, list, replace, unsubscribe)
            "reports": READ_WRITE,
            "report-subscriptions": READ_WRITE_DELETE,
            # procedures (versioned checklists) and preventive-maintenance schedules
            "procedures": READ_WRITE_DELETE,
            "pm-schedules": READ_WRITE_DELETE,
            # live updates: the tenant's connections (by_tenant), told of each alert change through the live function
            "live-connections": (QUERY,),
        },
        redis=True,
        postgres=True,
        kinesis_put=True,
        # POST /reports enqueues the job; GET /reports/{id}/download presigns a 15-minute GetObject URL (the
        # URL carries the API role's permission, so the role needs GetObject itself).
        queues_send=("reports",),
        reports_read=True,
        cognito=True,
        cognito_admin=COGNITO_PEOPLE,
        usage_plan_keys=True,
        live_relay=True,
    ),
    # API Gateway's request authorizer: a key's record (api-keys, by hash), a person's tenant tier (tenants) and
    # standing (users), read through dcmms.runtime's token verifier; the people usage keys' values.
    "authorizer": Access(
        tables={"api-keys": (GET,), "tenants": (GET,), "users": (GET,)},
        cognito=True,
        people_usage_keys=True,
    ),
    # Cognito's pre-token-generation trigger: its event and the providers' tenants, nothing else.
    "pretoken": Access(identity_provider_tenants=True),
    # Live updates' WebSocket routes (outside the VPC): a person's token checked as the authorizer checks it (tenant
    # tier, standing), the connection stored (its item and one per subscription; the partition queried and deleted
    # on $disconnect), a site looked up in the caller's tenant; the frames relayed to it posted to @connections, a
    # gone connection deleted.
    "live": Access(
        tables={
            "live-connections": (GET, QUERY, PUT, DELETE),
            "sites": (GET,),
            "tenants": (GET,),
            "users": (GET,),
        },
        cognito=True,
        live_post=True,
    ),
    # Kinesis batch -> PostgreSQL; locates assets, reads the tenant's rules, raises alerts and their
    # corrective work orders (conditional creates, versioned updates), dead-letters refused records to S3. Live
    # updates: which of a tenant's sites are watched, by whom (GSI subscriptions), for their newest readings, the
    # tenant's connections (by_tenant) for the alerts rules raise and resolve; the frames relayed to the live function.
    "ingest": Access(
        tables={
            "assets": (GET,),
            "alert-rules": (QUERY,),
            "alerts": (GET, PUT),
            "work-orders": (GET, PUT),
            "live-connections": (QUERY,),
        },
        redis=True,
        postgres=True,
        kinesis_consume=True,
        dead_letter_write=True,
        live_relay=True,
    ),
    # DynamoDB Streams of sites, assets, work orders and alerts -> the read model in PostgreSQL (the primary,
    # through RDS Proxy). It reads only the stream records it is given: no table, no Redis.
    "projector": Access(postgres=True, table_streams_consume=True),
    # Preventive maintenance: every tenant (a scan of the small tenants table), its schedules (query, then a
    # versioned replace of each one's state), the assets of a type at a site (query), the procedures (get), and
    # the generated work orders (conditional creates; gets of the previous ones), written through the cache.
    "pm": Access(
        tables={
            "tenants": (SCAN,),
            "pm-schedules": (GET, QUERY, PUT),
            "procedures": (GET,),
            "assets": (QUERY,),
            "work-orders": (GET, PUT),
        },
        redis=True,
    ),
    # Refreshes the read model's materialized KPIs in PostgreSQL (the primary, through RDS Proxy); single-flight
    # by an advisory lock in PostgreSQL itself, so no Redis.
    "kpi": Access(postgres=True),
    # Partitions ahead and retention in PostgreSQL, single-flight by a Redis lock.
    "telemetry-partitions": Access(redis=True, postgres=True),
    # Every tenant (a scan of the small tenants table), their sites, KPIs (assets, active work orders,
    # unresolved alerts by GSI) and the most-read work orders, into Redis.
    "warmer": Access(
        tables={
            "tenants": (SCAN,),
            "sites": READ,
            "assets": (QUERY,),
            "work-orders": READ,
            "alerts": (QUERY,),
        },
        redis=True,
    ),
    # One report per queue message, from the analytics replica (PostgreSQL), into the reports bucket, its status
    # in the reports table; the tenant (name, locale) for the document and the subscriptions (by tenant) for the
    # emails, sent through SES. A schedule run (site-daily, fleet-monthly) enqueues one job per site or tenant
    # that is due on its own queue; re-reading a written document (GetObject) attaches it to the emails.
    "reports": Access(
        tables={
            "reports": READ_WRITE,
            "report-subscriptions": (QUERY,),
            "tenants": (GET,),
        },
        postgres=True,
        queues_send=("reports",),
        reports_read=True,
        reports_write=True,
        report_email=True,
    ),
}
