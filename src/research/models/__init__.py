"""The PD and churn models: one scoring model per modeling table.

``splits`` (train/valid/oot/purged/latest, or a random test split without dates),
``train`` (feature layout, model matrix, XGBoost with early stopping), ``calibration``
(isotonic or Platt, master scale, deciles, the per-grade binomial test), ``challenger``
(logistic regression), ``scoring`` (fit every part, score every row, metrics per split),
``metrics`` (AUC, Gini, KS, Brier, log loss, plot data; shared with validation), ``flat``
(any modeling table as input) and ``io`` (the ``models/<name>/`` folder).
"""

import os as _os

# XGBoost's OpenMP threads wait for work by sleeping, not spinning (libgomp reads this when
# ``xgboost`` first loads, which every module here that boosts or scores imports after this
# package). Spinning burns a core while the thread waits, and on a machine where the train
# stages of two models run at once, or other processes share the cores, the spinning threads
# take the time the working ones need: the train stage took 35 s of CPU in its booster
# instead of 7. The trees and scores do not depend on it. The Dask workers do the same
# (``research.distributed``); a value set in the environment is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
