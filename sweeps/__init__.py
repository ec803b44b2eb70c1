"""Sweeps: hyper-parameter searches over a base config with Optuna (the [sweep] extra).

spec.py and space.py read a sweep config (no Optuna needed); storage.py opens its study (a
journal file or a database); worker.py trains its trials; leaderboard.py ranks them;
_optuna.py alone touches Optuna's internals.
"""
