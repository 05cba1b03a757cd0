"""The audit trail: one tamper-evident record per request and per policy event.

Modules, in the order a record travels:

* ``config``   — the ``audit:`` configuration section (:class:`AuditConfig`).
* ``capture``  — the compliance-owned content capture policy and the redaction hook.
* ``record``   — an :class:`~gateway.exchange.Exchange` turned into a version-1 record.
* ``chain``    — canonical hashing, the hash chain and signed checkpoints.
* ``segments`` — append-only JSONL segment files: rotation, retention, recovery.
* ``writer``   — the group-commit writer thread (write, fsync, release waiters).
* ``relay``    — delivery to the stdout and Redis sinks, with a spool when they are down.
* ``log``      — :class:`~gateway.audit.log.AuditLog`, the facade the runtime owns.
* ``verify``, ``reader``, ``index``, ``query`` — reading the trail back.

The record schema is documented in ``gateway/audit/README.md``. This package
imports nothing at package level so that ``gateway.config`` can import the
configuration module without a cycle.
"""
