"""The PD and churn models: one scoring model per modeling table.

``splits`` (train/valid/oot/purged/latest, or a random test split without dates),
``train`` (feature layout, model matrix, XGBoost with early stopping), ``calibration``
(isotonic or Platt, master scale, deciles, the per-grade binomial test), ``challenger``
(logistic regression), ``scoring`` (fit every part, score every row, metrics per split),
``metrics`` (AUC, Gini, KS, Brier, log loss, plot data; shared with validation), ``flat``
(any modeling table as input) and ``io`` (the ``models/<name>/`` folder).
"""
