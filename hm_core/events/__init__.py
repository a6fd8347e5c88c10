"""Event store, registry and bus: the one way any module changes state.

Public API (import from here):
- `DomainEvent`: base class of every event (see `base.py`).
- `publish(...)`: append events to a stream and run in-transaction subscribers.
- `subscribe(...)`: register a subscriber (from a module's apps.py `ready()` imports only).
- `EventMeta`, `Recorded`, `StreamRef`.
"""
