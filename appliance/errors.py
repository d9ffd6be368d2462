"""Exception hierarchy of the appliance; only ``cli.main`` turns these into exit codes."""


class ApplianceError(Exception):
    """Base class of every error the appliance reports to a user."""


class ConfigError(ApplianceError):
    """A configuration file or value is invalid."""


class StoreError(ApplianceError):
    """The event store cannot be opened, migrated or written."""


class CaptureError(ApplianceError):
    """A capture file is missing, unreadable, empty or truncated."""


class SuricataError(ApplianceError):
    """Suricata failed to start, rejected a configuration or a ruleset."""


class SuricataConnectionError(SuricataError):
    """Suricata's unix socket cannot be reached."""


class SuricataCommandError(SuricataError):
    """Suricata answered a unix-socket command with NOK."""


class RulesError(SuricataError):
    """A rule source could not be fetched or the ruleset failed ``suricata -T``."""
