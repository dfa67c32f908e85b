"""HTTP routes, one module per resource. Handlers parse, call Maintenance, shape the answer."""
