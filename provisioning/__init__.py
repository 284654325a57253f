"""Preparing devices over ADB: facts, plans, steps, batches."""
