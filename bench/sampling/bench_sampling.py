#!/usr/bin/env python3
"""bench_sampling: sampling efficiency at 20x the span budget's volume (design §11).

A private stack (tests/e2e/stack.py) with ddsim retaining 20x what SPAN_PAGE_BUDGET lets the
collector read per sync: BENCH_SAMPLING_BUDGET pages (10), a sync every
BENCH_SAMPLING_INTERVAL_S seconds (30), BENCH_SAMPLING_SYNCS syncs (20), slices of at least
BENCH_SAMPLING_MIN_SLICE_S (30, the default; one slice a sync). Prints one JSON line per figure:

- efficiency: spans of judged traces / spans read (analyzer counters), target >= 0.85;
- checkpoint_lag_s after the last sync, target: within one sync interval (plus SPAN_LAG_SECONDS);
- sampled and skipped seconds, pages per sync, judged traces, the estimate and its interval
  next to the truth's broken rate over the same ranges;
- the machine's core count.

The analyzer runs with CLOCK_SKEW_SECONDS and TRACE_EDGE_SECONDS at 0.05 (ddsim's clocks never
disagree); `BENCH_SAMPLING_SKEW` sets both (e.g. 1 for the production default).
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("APMCOV_SOURCE_DIR", "."), "tests", "e2e"))

import test_volume  # noqa: E402


def main() -> int:
    env = os.environ.get
    syncs = int(env("BENCH_SAMPLING_SYNCS", "20"))
    # 20x the budget's volume: rate x interval = 20 x budget x 1000 spans.
    test_volume.BUDGET = int(env("BENCH_SAMPLING_BUDGET", "10"))
    test_volume.INTERVAL_S = int(env("BENCH_SAMPLING_INTERVAL_S", "30"))
    test_volume.RATE = int(env("BENCH_SAMPLING_RATE",
                               str(20 * test_volume.BUDGET * 1000 // test_volume.INTERVAL_S)))
    test_volume.MIN_SLICE_S = int(env("BENCH_SAMPLING_MIN_SLICE_S", "30"))  # the default
    skew = env("BENCH_SAMPLING_SKEW")
    if skew:
        test_volume.SKEW_S = skew
    seed = int(env("BENCH_SAMPLING_SEED", "5"))
    started = time.monotonic()
    ok, held, f = test_volume.run(seed, syncs=syncs)
    cores = os.cpu_count()
    volume_ratio = test_volume.RATE * test_volume.INTERVAL_S / (test_volume.BUDGET * 1000)
    common = {"cores": cores, "syncs": syncs, "budget_pages": test_volume.BUDGET,
              "spans_per_second": test_volume.RATE, "sync_every_s": test_volume.INTERVAL_S,
              "volume_x_budget": round(volume_ratio, 1), "clock_skew_s": float(test_volume.SKEW_S),
              "min_slice_s": test_volume.MIN_SLICE_S}
    print(json.dumps({"name": "sampling_efficiency", "efficiency": f.get("efficiency"),
                      "target": 0.85, **common}))
    print(json.dumps({"name": "sampling_checkpoint", "checkpoint_lag_s": f.get("checkpoint_lag_s"),
                      "target_s": test_volume.INTERVAL_S + 10, **common}))
    print(json.dumps({"name": "sampling_estimate", "judged_traces": f.get("judged"),
                      "broken_rate": f.get("estimate"), "low": f.get("low"), "high": f.get("high"),
                      "truth_rate": f.get("truth_rate"), "held": 1 if held else 0,
                      "sampled_s": f.get("sampled_s"), "skipped_s": f.get("skipped_s"),
                      "pages": f.get("pages"), "wall_s": round(time.monotonic() - started), **common}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
