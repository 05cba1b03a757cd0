"""How a request's record is built: the serialised parts it reuses, and its numbers."""

from __future__ import annotations

import orjson
import pytest

from gateway.audit import record as record_module
from gateway.audit.chain import Chain, canonical, digest
from gateway.audit.record import request_record
from gateway.exchange import Attempt, Exchange
from gateway.identity.principal import Principal
from gateway.policy.decision import Decision

PRINCIPAL = Principal("alice", ("developer", "reviewer"), "platform", "api_key", key_id="k1", delegation=("bob",))
DECISION = Decision(True, "chat", "gpt-4o", "platform", "v-abc", "p, developer, platform, *, chat")


def _exchange(principal: Principal | None = PRINCIPAL, decision: Decision | None = DECISION) -> Exchange:
    exchange = Exchange(
        request_id="req_1", operation="chat.completions", body=b"", headers={}, client="10.0.0.1", started=1.0
    )
    exchange.principal, exchange.decision, exchange.model = principal, decision, "gpt-4o"
    exchange.attempts.append(Attempt("openai", "gpt-4o-2024", 1.0, status=200, latency=0.0123456))
    exchange.usage = {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    return exchange


def _record(exchange: Exchange) -> dict[str, object]:
    return request_record(
        exchange, wall=1_795_339_062.5, ended=1.02, status=200, error=None, outcome="ok", stream=False
    )


def test_principal_and_decision_serialise_as_their_fields() -> None:
    written = orjson.loads(orjson.dumps(_record(_exchange())))
    assert written["principal"] == {
        "subject": "alice",
        "roles": ["developer", "reviewer"],
        "team": "platform",
        "method": "api_key",
        "key_id": "k1",
        "issuer": None,
        "delegation": ["bob"],
    }
    assert written["decision"] == {
        "allowed": True,
        "action": "chat",
        "resource": "gpt-4o",
        "domain": "platform",
        "policy_version": "v-abc",
        "rule": "p, developer, platform, *, chat",
    }
    assert orjson.loads(orjson.dumps(_record(_exchange(None, None))))["principal"] is None


def test_a_sealed_record_hashes_its_canonical_text() -> None:
    # The reused parts are copied into the line as they are: they must already be canonical
    # (sorted keys), or verify would recompute another hash and report the line as altered.
    line = Chain().seal(_record(_exchange()))
    parsed = orjson.loads(line)
    assert parsed["hash"] == digest(canonical(parsed))
    assert line.startswith(canonical(parsed)[:-1])


def test_parts_are_kept_per_object_not_per_value() -> None:
    twin = Principal(**{f: getattr(PRINCIPAL, f) for f in PRINCIPAL.__dataclass_fields__})
    first = _record(_exchange())["principal"]
    assert _record(_exchange())["principal"] is first  # the same principal: serialised once
    second = _record(_exchange(twin))["principal"]
    assert second is not first  # an equal but distinct object gets its own entry (ids are only unique per live object)
    assert orjson.dumps(second) == orjson.dumps(first)


def test_the_part_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(record_module, "_MAX_PARTS", 3)
    monkeypatch.setattr(record_module, "_PARTS", {})
    for n in range(10):
        _record(_exchange(Principal(f"user{n}", (), "t", "api_key")))
    assert len(record_module._PARTS) <= 3


@pytest.mark.parametrize(
    ("seconds", "milliseconds"),
    [(0.0123456, 12.346), (0.0000006, 0.001), (0.0000004, 0.0), (1.0, 1000.0), (2.5e-7, 0.0), (0.1234567, 123.457)],
)
def test_latencies_are_milliseconds_to_the_microsecond(seconds: float, milliseconds: float) -> None:
    exchange = _exchange()
    exchange.attempts[0].latency = seconds
    assert _record(exchange)["attempts"] == [
        {"provider": "openai", "model": "gpt-4o-2024", "status": 200, "error": None, "latency_ms": milliseconds}
    ]
