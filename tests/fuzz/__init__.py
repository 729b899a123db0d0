"""Property-based fuzz tests: any input gives a valid object or the project's error."""
