"""Migration phases of the test driver (between two test:/// hosts)."""


class TestMigrationPhases:
    """The test driver's implementation of the migration phase hooks."""
