"""Transport concerns as pure ASGI middleware: stateless, cheap, and ignorant of models and users."""
