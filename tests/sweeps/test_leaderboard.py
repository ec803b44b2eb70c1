"""The leaderboard: finished trials best first, printed by `sweep.py --report` and written to
leaderboard.csv."""

from collections.abc import Callable
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from gategraph.sweeps.spec import load_sweep  # noqa: E402
from gategraph.sweeps.storage import JOURNAL, load_study, read_info, write_info  # noqa: E402
from gategraph.sweeps.worker import Worker  # noqa: E402


def test_report_prints_the_leaderboard_of_a_sweep_folder(
    write_sweep: Callable, run_cli: Callable, tmp_path: Path
) -> None:
    text = (
        "base: base.yaml\ntrials: 2\npruner: none\nspace:\n  optim.lr: {log_uniform: [1e-2, 0.3]}\n"
    )
    sweep, out = load_sweep(write_sweep(text)), tmp_path / "out"
    out.mkdir()
    write_info(out, sweep, str(out / JOURNAL))
    Worker(sweep, str(out / JOURNAL), out).run()
    (out / "leaderboard.csv").unlink(missing_ok=True)
    done = run_cli("--report", out)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "sweep sweep: 2 complete"
    assert lines[1].split() == [
        "rank", "trial", "state", "val_acc", "optim.lr", "epochs", "train_acc", "train_loss",
        "val_loss", "run",
    ]  # fmt: skip
    info = read_info(out)
    trials = load_study(
        info["study"], info["storage"]
    ).trials  # best: highest accuracy, then lowest loss
    best = min(trials, key=lambda t: (-t.value, t.user_attrs["final"]["val"]["loss"]))
    assert lines[2].split()[:4] == ["1", str(best.number), "complete", f"{best.value:.4g}"]
    assert (out / "leaderboard.csv").is_file()
    missing = run_cli("--report", tmp_path / "nowhere")
    assert missing.returncode == 2
    assert missing.stderr.startswith(f"error: {tmp_path / 'nowhere'}: not a sweep folder")
