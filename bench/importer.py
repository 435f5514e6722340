"""One timed import in its own process (``python -m bench.importer KIND URL FILE``).

Calls the real :func:`consenthub.imports.metering_points.import_metering_points` or
:func:`consenthub.imports.meter_values.import_meter_values` and prints one JSON
line: seconds spent in the call, the import's report, and the process's peak RSS.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from consenthub.imports.meter_values import MeterValueReport, import_meter_values
from consenthub.imports.metering_points import MeteringPointReport, import_metering_points
from consenthub.store.database import Database
from consenthub.store.id_cipher import NationalIdCipher


def main() -> None:
    kind, url, file = sys.argv[1:4]
    database = Database(url)
    started = time.perf_counter()
    report: MeteringPointReport | MeterValueReport
    if kind == "metering-points":
        # The key of the hub the database was migrated for (``CONSENTHUB_SECRET_KEY``).
        ids = NationalIdCipher(os.environ.get("CONSENTHUB_SECRET_KEY", "bench").encode())
        report = import_metering_points(database, Path(file), ids=ids, allow_synthetic_ids=True,
                                        actor="bench")
    else:
        report = import_meter_values(database, Path(file), actor="bench")
    seconds = time.perf_counter() - started
    database.dispose()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent at fork.
    peak_mb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text()
                   .splitlines() if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"seconds": round(seconds, 3), "report": asdict(report),
                      "peak_rss_mb": round(peak_mb, 1)}))


if __name__ == "__main__":
    main()
