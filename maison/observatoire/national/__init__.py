"""National statistics, monthly (issue 23 §2: seed 003's figures, from the trail): see `service.National`."""
