"""Model registry, approval, promotion, rollback and the audit trail (boto3 clients passed in)."""
