"""Real-time events over WebSocket (contract §19): `/ws/events/`, fan-out of every commit."""
