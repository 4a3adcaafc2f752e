"""verify: checks every gradient of the reference three ways (filled in by the next issues)."""
