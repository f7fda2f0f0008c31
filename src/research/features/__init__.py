"""Point-in-time behavioral features, one module per family; snapshot.py assembles the panel."""
