"""The emulated accounts, people and resources, as `cdk deploy` of the synthesized stages leaves them."""
