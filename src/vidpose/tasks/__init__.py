"""Application tasks: what a command does, composed from the library (data, models, engine)."""
