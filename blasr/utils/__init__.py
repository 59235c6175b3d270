"""Small shared utilities (checkpoint I/O, ...) used by every entry point."""
