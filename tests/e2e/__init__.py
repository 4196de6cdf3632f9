"""End-to-end tests: the CLI and the GUI as subprocesses."""
