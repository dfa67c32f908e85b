"""The CDK app that deploys dCMMS: two stacks per environment and region, one construct per concern.

``cdk.app`` is the entry point (``cdk synth`` or ``python -m cdk.app``); ``cdk.config`` turns the ``cdk.json``
context into typed settings; the modules beside them are the constructs (network, data, functions, identity,
api, ingest, queues, schedules, edge, monitoring). Functions come from ``dcmms.catalogue.FUNCTIONS`` and tables from
``dcmms.store.models.table_definitions()``, the same inputs the local stack uses.
"""

import os

# jsii (which runs aws-cdk-lib on Node) prints a banner on Node 20; it must be silenced before aws_cdk loads.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
