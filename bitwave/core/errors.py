"""The one exception type for bad user input: the CLI prints its message and exits with 2."""


class BitwaveError(Exception):
    """Bad input or configuration. The message names what is wrong and what is allowed."""


class IRError(BitwaveError):
    """An IR file or object that does not satisfy the format."""


class ConfigError(BitwaveError):
    """A configuration file that does not satisfy the schema."""
