"""Managing Suricata: configuration rendering, the unix socket, rules."""
