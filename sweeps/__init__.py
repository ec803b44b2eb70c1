"""Sweeps: hyperparameter searches over a base config with Optuna (an optional extra)."""
