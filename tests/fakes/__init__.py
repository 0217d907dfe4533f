"""Hand-written fakes of external services (real servers on loopback), shared by the test tiers."""
