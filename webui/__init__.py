"""spanwatch web UI (Flask); built on the appliance's service interface."""
