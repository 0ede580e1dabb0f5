"""Model registry, approval, promotion, rollback and the audit trail (boto3 clients passed in).

- `versions`: read versions; `update_version`, the one write to the registry.
- `evidence`: the evidence gate and segregation of duties, shared by approval and promotion.
- `approval`: `approve` / `reject`.
- `promotion`: `resolve` (gate + manifest), `record_deployment`, `rollback`, claims, history.
- `handler`: the approval-event Lambda (`handler`) and `handle_state_change`.
- `audit`, `storage`: the write-once audit trail and its CSV/JSON export.
- `commands`: `finmlops registry|promote|audit`.
"""
