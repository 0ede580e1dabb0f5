"""Governance evidence: model card and validation report per version."""
