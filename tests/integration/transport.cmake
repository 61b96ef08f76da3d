# transport integration tests: pending
