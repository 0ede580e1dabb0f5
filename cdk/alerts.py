"""The chat notifier: every message on an environment's alerts topic, posted to a chat webhook.

A Lambda (`finmlops.alerts.chat`, standard library and boto3 only) is subscribed to the
encrypted alerts topic. It reads the webhook URL from the SSM SecureString parameter named by
`notifications.chat_webhook_parameter`, the one parameter its role may read. The URL is a secret:
it never appears in a template, a log or an environment variable. A message the webhook refuses
is retried twice, then dead-lettered to an encrypted queue whose alarm notifies the same topic
(and so its email subscribers).
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct
from finmlops_cdk.functions import FunctionSettings, project_function

from finmlops.contracts import Alerts

NOTIFIER_TIMEOUT = Duration.seconds(30)
NOTIFIER_MEMORY_MB = 128
OUTSIDE_VPC = (
    "It posts to an external chat service over HTTPS; the platform's VPCs have no internet "
    "egress by design (VPC endpoints only), so inside them it could not reach the webhook."
)


def parameter_arn(stack: Stack, name: str) -> str:
    """The ARN of an SSM parameter named with its leading slash (`/a/b` -> `parameter/a/b`)."""
    return f"arn:{stack.partition}:ssm:{stack.region}:{stack.account}:parameter{name}"


class ChatNotifier(Construct):
    """Attributes: `function`, `role`, `dead_letter_queue` (Lambda retries and SNS deliveries)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        environment: str,
        parameter_name: str,
        code: lambda_.Code,
        topic: sns.ITopic,
        ops_key: kms.IKey,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Chat notifier: read the webhook URL parameter, post alerts",
        )
        built = project_function(
            self,
            settings=FunctionSettings(
                description=f"{environment} alerts topic -> chat webhook",
                handler=Alerts.HANDLER,
                environment={
                    Alerts.ENV_WEBHOOK_PARAMETER: parameter_name,
                    Alerts.ENV_ENVIRONMENT: environment,
                },
                timeout=NOTIFIER_TIMEOUT,
                memory_mb=NOTIFIER_MEMORY_MB,
                concurrency=reserved_concurrency,  # config functions.reserved_concurrency
                outside_vpc=OUTSIDE_VPC,
            ),
            code=code,
            role=self.role,
            statements=[
                iam.PolicyStatement(
                    sid="ReadWebhookUrl",
                    actions=["ssm:GetParameter"],
                    resources=[parameter_arn(Stack.of(self), parameter_name)],
                ),
            ],
            policy_description="Chat notifier: one SSM parameter, its dead letters, logs, tracing",
            acknowledgments={},
            ops_key=ops_key,
            alerts=topic,
            dead_letter_purpose="alerts the chat notifier could not post to the chat webhook",
        )
        self.function = built.function
        self.dead_letter_queue = built.dead_letter_queue
        # Deliveries SNS itself cannot make (the function throttled or gone) go to the same queue.
        topic.add_subscription(
            subscriptions.LambdaSubscription(
                self.function, dead_letter_queue=self.dead_letter_queue.queue
            )
        )
