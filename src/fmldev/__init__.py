"""Developer tooling, not shipped in the service images: the local stack's environment (`stack`),
background processes for `make run`, the tests and the bench (`procs`), and the seeded sample data."""
