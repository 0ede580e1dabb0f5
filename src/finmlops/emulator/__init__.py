"""The offline lifecycle, in three parts a reader can find by folder:

- `world/`: the emulated accounts, people and resources, named and built from what the CDK app
  synthesizes (the templates, `finmlops.naming`), as `cdk deploy` would leave them.
- `aws/`: what AWS does by itself and moto does not: the embedded server (moto on 127.0.0.1),
  the registry kept as SageMaker keeps it, pipeline steps run as SageMaker runs them, endpoints
  with data capture, the registry's state-change events, CloudWatch alarm evaluation.
- `story/`: the demo's story over the public commands and functions: build, approvals,
  promotion, traffic, monitoring, alarm, late labels, retraining, rollback, evidence.

docs/emulator.md lists where the emulator still hands a value over directly, and why.
"""
