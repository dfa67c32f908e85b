"""DynamoDB access through pynamodb: table definitions and repositories of domain entities.

This package's ``__init__`` stays import-free so that light modules (health checks) can name a table
without loading pynamodb.
"""

API_KEYS_TABLE = "api-keys"
