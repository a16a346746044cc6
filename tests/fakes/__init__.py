"""Local servers speaking third-party APIs' documented wire contracts, for tests and benchmarks."""
