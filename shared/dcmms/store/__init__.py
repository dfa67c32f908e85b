"""DynamoDB access through pynamodb: table definitions and repositories of domain entities."""
