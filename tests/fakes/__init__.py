"""Fake upstream providers that speak each provider's real wire format.

Each fake is a Starlette app served by a real uvicorn server on a free loopback
port (see :mod:`tests.fakes.server`), so the gateway talks to it over real
HTTP exactly as it would to the provider. Fakes record every request they get,
so tests can assert what the gateway sent (URL, headers, body shape), and can be
scripted to answer with errors, slow streams or broken streams.
"""
