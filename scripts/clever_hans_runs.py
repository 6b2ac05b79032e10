"""Precompute the trainings of notebook 01 (Clever Hans): seeds, the poisoning sweep, the repairs.

    python scripts/clever_hans_runs.py            # the full budget, writes data/results/01_*
    python scripts/clever_hans_runs.py --quick --out /tmp/ch   # a tiny version, for a smoke test
    python scripts/clever_hans_runs.py --only sweep              # one part: seeds, sweep or repair

Writes ``01_seeds.json`` and ``01_spray_seeds.json`` (poisoned and control models, three seeds:
behaviour, LRP mass, SpRAy of every class), ``01_sweep.json`` (share of poisoned images x trigger
strength x three seeds, and a three-seed control: 27 trainings), ``01_repair.json`` and
``01_regions.json`` (Right for the Right Reasons as ``introspect.repair`` is called: defaults and
transplanted triggers over three seeds, the penalty alone and explanation-derived masks on seed 0;
the regions found from explanations), and the seed-0 models as ``01_<name>.weights.h5`` (weights
only, 1.7 MB each). Measured on a 2-core machine shared with other jobs (load 4-10): seeds 716 s,
sweep 2,353 s, repair about 2,140 s (1,518 s, plus 620 s for the six-epoch variant run on its own; the parts can run in parallel; ``repair`` needs the seed-0
poisoned model that ``seeds`` writes). The budget is ``introspect.clever_hans.runs.FULL``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import introspect  # noqa: F401  -- first: silences TensorFlow's start-up messages
from introspect.clever_hans import repairs, runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the tiny QUICK budget")
    parser.add_argument("--out", type=Path, default=runs.RESULTS, help="folder for the results")
    parser.add_argument("--only", choices=("seeds", "sweep", "repair"), action="append",
                        help="run only these parts (repeatable); default: all")
    args = parser.parse_args(argv)
    b = runs.QUICK if args.quick else runs.FULL
    parts = args.only or ["seeds", "sweep", "repair"]
    args.out.mkdir(parents=True, exist_ok=True)
    for part in parts:
        start = time.perf_counter()
        if part == "seeds":
            seeds, spray_seeds = runs.seed_study(b, args.out)
            runs.save_table(seeds, "01_seeds", args.out)
            runs.save_table(spray_seeds, "01_spray_seeds", args.out)
        elif part == "sweep":
            runs.save_table(runs.sweep(b), "01_sweep", args.out)
        else:
            d = runs.load_data(b.n_train)
            table, extra = repairs.repair_study(runs.load_model("poisoned", args.out), d, epochs=b.repair_epochs,
                                                seeds=b.seeds, n_spray=b.n_spray, folder=args.out)
            runs.save_table(table, "01_repair", args.out)
            regions = {str(c): region.astype(int).tolist() for c, region in extra["regions"].items()}
            (args.out / "01_regions.json").write_text(json.dumps(regions))
        print(f"{part}: {time.perf_counter() - start:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
