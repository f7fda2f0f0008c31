"""Input tables: the contract, the synthetic generator and reading/writing folders of tables."""
