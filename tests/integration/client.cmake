# client integration tests: pending
