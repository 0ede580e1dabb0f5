"""Drift and model-quality monitoring engine: baseline, drift run, delayed-label quality, Model Monitor formats."""
