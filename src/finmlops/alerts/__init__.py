"""Alerts beyond email: the messages on an environment's alerts topic, posted to a chat.

- `chat`: the chat notifier Lambda (`handler`) and `notify`, which formats each SNS message
  (CloudWatch alarms, approvals, plain text) and posts it to the webhook whose URL an SSM
  SecureString parameter holds. Standard library and boto3 only: it runs in a bare Lambda.
"""
