"""orders domain: entities, value objects, rules and state machines. No Flask, no SQL."""
