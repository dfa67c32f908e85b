"""HTTP routes, one module per resource. Handlers parse, call their aggregate's service, shape the answer."""
