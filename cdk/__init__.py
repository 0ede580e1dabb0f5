"""The CDK app: synthesizes CloudFormation and nothing else (installed as finmlops_cdk)."""
