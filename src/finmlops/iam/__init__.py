"""IAM policy evaluation, offline: the decision AWS would make for a request, and why.

No third-party dependency: the emulator uses it at run time. See docs/iam.md for what it covers
and docs/decisions/0010-iam-evaluation.md for why it exists.

- `Platform.load(cdk_out)`: the roles and resource policies of a synthesized CDK assembly;
  `platform.decide(...)` and `platform.can_assume(...)` answer for one request.
- `Policy.parse(document)`, `Request`, `evaluate(...)`: the evaluator on policies of your own.
"""

from finmlops.iam.cloudformation import Assembly, AssemblyError
from finmlops.iam.conditions import PolicyError
from finmlops.iam.context import RequestContext
from finmlops.iam.evaluate import Decision, Match, Request, evaluate
from finmlops.iam.platform import ANY_ROLE_CALLER, Platform, Resource, Role
from finmlops.iam.policy import Policy, Statement
from finmlops.iam.principals import Caller

__all__ = [
    "ANY_ROLE_CALLER",
    "Assembly",
    "AssemblyError",
    "Caller",
    "Decision",
    "Match",
    "Platform",
    "Policy",
    "PolicyError",
    "Request",
    "RequestContext",
    "Resource",
    "Role",
    "Statement",
    "evaluate",
]
