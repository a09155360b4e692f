"""fraudcast.serving: the FastAPI app, the planner web page and the `fraudcast` CLI."""

import os

#: Threads a BLAS library may use in a fraudcast process, set before numpy or scipy load one:
#: fraudcast's matrices are tens of rows at most, where a second BLAS thread only waits on the
#: first (``forecast-file`` of 300 series in one process: 8% less time on one thread, the same
#: output). A process pool's and a Dask cluster's workers are held to one already (joblib,
#: Dask's nanny); a value the user set is kept.
BLAS_THREADS = "1"

for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, BLAS_THREADS)
