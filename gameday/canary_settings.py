"""How the game day's canaries probe: the orchestration starts them with these, and the alarm check
reads a fault window with the same timeouts (a request in flight when a fault began belongs to it)."""

CANARY_INTERVAL_S = 0.25
CANARY_TIMEOUT_S = 1.0  # connect and read, each
CANARY_IN_FLIGHT_S = 2 * CANARY_TIMEOUT_S
CANARY_TABLE = "canary"
