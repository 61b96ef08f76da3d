# emulator integration tests: pending
