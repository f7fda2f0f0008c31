"""Self-contained HTML reports and plot helpers shared by the report stages."""
