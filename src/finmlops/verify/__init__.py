"""`finmlops verify`: after `cdk deploy`, read-only checks that a deployment's seams are as
synthesized (registry policy, pipeline definition, served version, monitoring, alarms, audit
bucket); docs/verify.md lists every check."""
