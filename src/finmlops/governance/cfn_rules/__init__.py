"""AWS's rules that cfn-lint lacks, as cfn-lint custom rules over every synthesized template.

Load them with `cfn-lint --append-rules finmlops.governance.cfn_rules <templates>` (cfn-lint
imports this module and takes every CloudFormationLintRule class it exports); `make scan` does
that, and tests/governance/test_cfn_rules.py runs them on every synthesized template. Each rule
is a pure check in its own module, with the AWS rule it encodes and its source in the docstring;
docs/compliance.md lists them, docs/decisions/0009 says why they live here.

  E9101 principals        each principal once per resource/trust policy statement
  E9102 condition_keys    condition keys exist, not renamed, for every action (IAM reference data)
  E9103 canary            canary or linear step at most half of the variant's instances
  E9104 container_env     no empty container environment value, no unknown SAGEMAKER_* key
  E9105 vpc_endpoints     every service a VPC workload calls has an endpoint in its VPC
  E9106 names             names and ARNs within AWS's length and character rules
"""

from finmlops.governance.cfn_rules.canary import CanaryAtMostHalf
from finmlops.governance.cfn_rules.condition_keys import ConditionKeysExist
from finmlops.governance.cfn_rules.container_env import ContainerEnvironment
from finmlops.governance.cfn_rules.names import NameLengths
from finmlops.governance.cfn_rules.principals import UniquePrincipals
from finmlops.governance.cfn_rules.vpc_endpoints import VpcEndpointsForCalls

__all__ = [
    "CanaryAtMostHalf",
    "ConditionKeysExist",
    "ContainerEnvironment",
    "NameLengths",
    "UniquePrincipals",
    "VpcEndpointsForCalls",
]

RULES = (
    UniquePrincipals,
    ConditionKeysExist,
    CanaryAtMostHalf,
    ContainerEnvironment,
    VpcEndpointsForCalls,
    NameLengths,
)
