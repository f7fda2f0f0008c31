"""Splits, XGBoost training, calibration and the master scale, and the challenger."""
