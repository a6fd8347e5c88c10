"""Settings per environment: `base` holds everything; dev/test/prod only adjust it."""
