"""spanwatch appliance core: config, canonical events, the store and Suricata management."""

__version__ = "0.1.0"
