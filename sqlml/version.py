"""sqlml's version: the package's, the wheel's (pyproject reads it here) and the one an
install records in the database's catalog."""

__version__ = "0.5.0"
