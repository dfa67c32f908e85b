"""Infrastructure tests: CDK synthesis assertions, cfn-lint, cdk-nag, the layer build and tools."""
