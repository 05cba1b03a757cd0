"""Tamper evidence: every kind of change to a written trail is found, named by segment and line."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.audit.chain import GENESIS, Chain, HmacSigner, Verifiers, canonical, digest, generate_ed25519
from gateway.audit.record import utc_iso
from gateway.audit.verify import Report, verify
from tests.audit.support import (
    KEY,
    age,
    audit_config,
    line_number,
    read_lines,
    request,
    segments,
    write_lines,
    write_trail,
)

ROOT = Path(__file__).resolve().parents[2]


def _check(directory: Path, key: str = KEY) -> Report:
    return verify(directory, Verifiers.load(key))


def _errors(report: Report) -> list[str]:
    return [str(f) for f in report.findings if f.level == "error"]


def _warnings(report: Report) -> list[str]:
    return [str(f) for f in report.findings if f.level == "warning"]


def test_hash_is_sha256_of_the_canonical_line_and_links_to_the_previous() -> None:
    chain = Chain()
    first = orjson.loads(chain.seal({"b": 1, "a": "x"}))
    second = orjson.loads(chain.seal({"a": 2}))
    assert first["prev"] == GENESIS
    assert first["hash"] == digest(
        orjson.dumps({k: v for k, v in first.items() if k != "hash"}, option=orjson.OPT_SORT_KEYS)
    )
    assert second["prev"] == first["hash"]
    assert (first["seq"], second["seq"]) == (1, 2)


def test_a_clean_trail_verifies_with_signed_checkpoints(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    report = _check(tmp_path)
    assert report.ok, report.findings
    summary = report.replicas[0]
    assert summary.records == 10
    # At the start, when 4 or more records are due (batches of 3: after records 6 and 9), and at close.
    assert summary.checkpoints == 4
    assert summary.signatures_checked == summary.checkpoints + 1  # every checkpoint and the head file
    assert _warnings(report) == []


def test_an_edited_record_is_found_at_its_line(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    lines[4] = lines[4].replace(b'"user', b'"mallory', 1)
    write_lines(path, lines)
    errors = _errors(_check(tmp_path))
    assert errors == [f"ERROR: {path.name} line 5: hash mismatch: the record (seq 5) was edited"]


def test_a_deleted_record_is_found(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    del lines[3]
    write_lines(path, lines)
    errors = _errors(_check(tmp_path))
    assert len(errors) == 1
    assert f"{path.name} line 4: does not follow the line before it (seq 5 after 3)" in errors[0]


def test_an_inserted_record_is_found_even_with_a_valid_hash(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    forged = orjson.loads(lines[2])
    forged["request_id"] = "req_forged"
    forged["hash"] = digest(canonical(forged))  # self-consistent, but the next line does not point to it
    lines.insert(3, orjson.dumps(forged))
    write_lines(path, lines)
    errors = _errors(_check(tmp_path))
    assert any(f"{path.name} line 4: does not follow" in e for e in errors), errors


def test_reordered_records_are_found(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(path, lines)
    errors = _errors(_check(tmp_path))
    assert any(f"{path.name} line 3: does not follow" in e for e in errors), errors


def test_a_recomputed_chain_fails_on_the_checkpoint_signatures(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 6)
    path = segments(tmp_path)[0]
    chain = Chain()
    rewritten = []
    for line in read_lines(path):
        record = orjson.loads(line)
        for name in ("seq", "prev", "hash"):
            del record[name]
        if record.get("type") == "request":
            record["model"] = "rewritten"
        rewritten.append(chain.seal(record).rstrip(b"\n"))
    write_lines(path, rewritten)
    errors = _errors(_check(tmp_path))
    assert any("checkpoint signature does not verify" in e for e in errors), errors
    # Without the key the forgery cannot be told from the original: say so instead of passing silently.
    assert any("not checked: no matching key" in w for w in _warnings(_check(tmp_path, key="")))


def test_a_cut_tail_is_found_by_the_head_checkpoint(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    write_lines(path, lines[: line_number(path, "checkpoint", 1) - 1])  # cut at a line boundary, checkpoints and all
    errors = _errors(_check(tmp_path))
    assert any("truncated: the log ends at seq" in e for e in errors), errors


def test_a_torn_last_line_is_a_warning_not_tampering(tmp_path: Path) -> None:
    writer = write_trail(audit_config(tmp_path), 5, close=False)
    path = segments(tmp_path)[0]
    with path.open("ab") as file:
        file.write(b'{"attempts":[],"client":"127.')  # what kill -9 leaves in the middle of a write
    report = _check(tmp_path)
    assert report.ok, report.findings
    assert any("torn last line (29 bytes" in w and f"{path.name} line 9" in w for w in _warnings(report))
    assert writer.replica == "r1"


def test_restart_after_a_crash_links_to_the_last_complete_line(tmp_path: Path) -> None:
    # A process that dies mid-write: its segment is neither closed nor complete, and its lock goes with it.
    crash = (
        "import os, sys; from pathlib import Path\n"
        "from tests.audit.support import audit_config, write_trail, segments\n"
        "directory = Path(sys.argv[1]); write_trail(audit_config(directory), 5, close=False)\n"
        "segments(directory)[0].open('ab').write(b'{\"torn'); os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash, str(tmp_path)], check=True, cwd=ROOT, timeout=60)
    write_trail(audit_config(tmp_path), 3, start=5)
    report = _check(tmp_path)
    assert report.ok, report.findings
    assert report.replicas[0].records == 8
    warnings = _warnings(report)
    assert any("torn last line (6 bytes" in w for w in warnings)
    assert any("ended without a closing checkpoint" in w for w in warnings)
    header = orjson.loads(read_lines(segments(tmp_path)[1])[0])
    assert header["torn_bytes_in_prev"] == 6


def test_a_deleted_middle_segment_is_found(tmp_path: Path) -> None:
    config = audit_config(tmp_path, segment_max_bytes=4096)
    write_trail(config, 40)
    paths = segments(tmp_path)
    assert len(paths) >= 3
    paths[1].unlink()
    errors = _errors(_check(tmp_path))
    assert any(f"{paths[2].name} line 1: follows '{paths[1].name}'" in e for e in errors), errors


def test_a_deleted_first_segment_is_found_but_retention_is_not_tampering(tmp_path: Path) -> None:
    config = audit_config(tmp_path, segment_max_bytes=4096)
    write_trail(config, 40)
    paths = segments(tmp_path)
    paths[0].unlink()
    errors = _errors(_check(tmp_path))
    assert any("is missing and was not removed by retention" in e for e in errors), errors

    other = tmp_path / "retained"
    config = audit_config(other, segment_max_bytes=4096, retention_days=30)
    write_trail(config, 40)
    old = segments(other)[:2]
    for path in old:
        age(path, 31)
    write_trail(config, 2, start=40)  # a restart applies retention
    assert [p.exists() for p in old] == [False, False]
    report = _check(other)
    assert report.ok, report.findings
    assert any(f.level == "info" and "removed by retention" in f.message for f in report.findings)


def test_archive_retention_moves_segments_aside(tmp_path: Path) -> None:
    config = audit_config(tmp_path, segment_max_bytes=4096, retention_days=1, retention_action="archive")
    write_trail(config, 30)
    first = segments(tmp_path)[0]
    age(first, 2)
    write_trail(config, 1, start=30)
    assert (tmp_path / "archive" / first.name).exists()
    assert _check(tmp_path).ok


def test_an_edited_head_file_is_found(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path), 10)
    head = tmp_path / "r1.head.json"
    head.write_bytes(head.read_bytes().replace(b'"final":true', b'"final":false'))
    assert any("head checkpoint file was edited" in e for e in _errors(_check(tmp_path)))


def test_rotation_by_size_keeps_one_chain(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path, segment_max_bytes=4096), 40)
    paths = segments(tmp_path)
    assert len(paths) > 3
    report = _check(tmp_path)
    assert report.ok, report.findings
    assert report.replicas[0].records == 40
    for path in paths:
        assert orjson.loads(read_lines(path)[-1])["final"] is True


def test_ed25519_checkpoints_verify_with_the_public_key_only(tmp_path: Path) -> None:
    private, public = tmp_path / "audit.key", tmp_path / "audit.pub"
    key_id = generate_ed25519(private, public)
    trail = tmp_path / "trail"
    write_trail(audit_config(trail, checkpoint_key="", checkpoint_signing_key=str(private)), 9)
    checkpoint = orjson.loads(read_lines(segments(trail)[0])[-1])
    assert (checkpoint["alg"], checkpoint["key_id"]) == ("ed25519", key_id)
    report = verify(trail, Verifiers.load(ed25519_key_file=str(public)))
    assert report.ok, report.findings
    assert report.replicas[0].signatures_checked == report.replicas[0].checkpoints + 1
    with pytest.raises(FileExistsError):
        generate_ed25519(private, public)


def test_unsigned_checkpoints_are_reported(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path, checkpoint_key=""), 5)
    report = _check(tmp_path)
    assert report.ok
    assert any("unsigned: set audit.checkpoint_key" in w for w in _warnings(report))


def test_hmac_key_id_names_the_key_without_revealing_it() -> None:
    signer = HmacSigner("s3cret")
    assert "s3cret" not in signer.key_id
    assert signer.key_id == HmacSigner("s3cret").key_id != HmacSigner("other").key_id


def test_replicas_keep_separate_chains(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path, replica_id="a"), 5)
    write_trail(audit_config(tmp_path, replica_id="b"), 7)
    report = _check(tmp_path)
    assert report.ok, report.findings
    assert {s.replica: s.records for s in report.replicas} == {"a": 5, "b": 7}


def test_rotation_by_age(tmp_path: Path) -> None:
    writer = write_trail(audit_config(tmp_path, segment_max_age=0.5), 2, close=False)
    time.sleep(0.6)
    writer.append([request(2)])
    writer.sync()
    writer.after_sync()  # the segment is older than segment_max_age: closed, and a new one opened
    writer.close()
    paths = segments(tmp_path)
    assert len(paths) == 2
    assert orjson.loads(read_lines(paths[0])[-1])["final"] is True
    assert _check(tmp_path).ok


def test_a_deleted_trail_does_not_verify(tmp_path: Path) -> None:
    assert _errors(_check(tmp_path)) == [f"ERROR: -: no audit segments in {tmp_path}"]
    write_trail(audit_config(tmp_path, replica_id="a"), 3)
    write_trail(audit_config(tmp_path, replica_id="b"), 3)
    for path in segments(tmp_path, "b"):
        path.unlink()
    assert _errors(_check(tmp_path)) == ["ERROR: b: every segment of this chain is missing"]


@pytest.mark.parametrize(
    "timestamp",
    [0.0, 1.5, 1795339062.4489994, 1795339063.0019994, 1795339062.9999996, 1795339062.0004995, 4102444799.999],
)
def test_record_times_match_datetime_to_the_millisecond(timestamp: float) -> None:
    # utc_iso caches the formatted second; what it returns must be what datetime would say.
    expected = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert utc_iso(timestamp) == expected
    assert utc_iso(timestamp + 1) != expected  # a new second is formatted afresh, not taken from the cache
