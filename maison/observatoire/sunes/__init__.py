"""SUN-ES usage indicators (seed 004 L185-207), counted from what happened: see `service.SunEs`."""
