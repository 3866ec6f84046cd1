"""Exporters. ``prm800k``: assignments back to PRM800K JSONL records."""
