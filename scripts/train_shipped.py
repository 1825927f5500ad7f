"""Reproduce the shipped CVRP checkpoint: a POMO curriculum, 50 clients then 100.

    python scripts/train_shipped.py --minutes-50 25 --minutes-100 55

On a 2-core CPU the budget is what limits quality; on a GPU raise the minutes
(and --batch-size) and the same recipe goes much further. The result is
copied to data/checkpoints/cvrp100.{pt,json}.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from nco.training import TrainConfig, train


def hms(minutes: float) -> str:
    s = int(minutes * 60)
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes-50", type=float, default=25)
    ap.add_argument("--minutes-100", type=float, default=55)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--out", default="runs/shipped")
    ap.add_argument("--install", default="data/checkpoints/cvrp100")
    args = ap.parse_args()
    out = Path(args.out)
    init = None
    if args.minutes_50 > 0:
        train(TrainConfig(num_clients=50, epochs=1000, batch_size=args.batch_size, train_size=3200, val_size=128,
                          lr=args.lr, out_dir=str(out / "n50"), max_time=hms(args.minutes_50), progress_bar=False))
        init = str(out / "n50" / "best.pt")
    train(TrainConfig(num_clients=100, epochs=1000, batch_size=args.batch_size, train_size=1600, val_size=128,
                      lr=args.lr, out_dir=str(out / "n100"), init_from=init, max_time=hms(args.minutes_100),
                      progress_bar=False))
    dest = Path(args.install)
    dest.parent.mkdir(parents=True, exist_ok=True)
    for ext in (".pt", ".json"):
        shutil.copy(out / "n100" / f"best{ext}", dest.with_suffix(ext))
    print(f"installed {dest.with_suffix('.pt')}")


if __name__ == "__main__":
    main()
