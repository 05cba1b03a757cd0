"""Search, stats and export, through the index and by scanning, and the ``gateway audit`` commands."""

from __future__ import annotations

import csv
import io
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from gateway.audit import search
from gateway.audit.chain import make_signer
from gateway.audit.index import Index
from gateway.audit.query import Filters, parse_time
from gateway.audit.segments import SegmentWriter
from gateway.cli import main
from tests.audit.support import KEY, audit_config, read_lines, request, segments, write_lines, write_trail

FILTERS = [
    Filters(),
    Filters(subject="user3"),
    Filters(team="blue", model="echo"),
    Filters(decision="deny"),
    Filters(status=200, provider="openai"),
    Filters(pii_type="EMAIL_ADDRESS"),
    Filters(request_id="req_000042"),
    Filters(since="2026-02-02T02:41:00.000Z", until="2026-02-02T02:42:00.000Z"),
    Filters(type="event"),
    Filters(subject="nobody"),
]


@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two replicas: one with several closed segments, one still open (being written)."""
    directory = tmp_path_factory.mktemp("trail")
    write_trail(audit_config(directory, segment_max_bytes=8192), 120)
    open_writer = write_trail(audit_config(directory, replica_id="r2"), 30, start=1000, close=False)
    assert open_writer.replica == "r2"
    return directory


def _ids(records: list[dict[str, object]]) -> list[object]:
    return [r.get("request_id") or r.get("kind") for r in records]


@pytest.mark.parametrize("filters", FILTERS)
def test_index_and_scan_agree(trail: Path, filters: Filters) -> None:
    indexed = search.search(trail, filters)
    assert filters.subject == "nobody" or filters.type == "event" or indexed, (
        "a filter that selects nothing tests little"
    )
    scanned = search.search(trail, filters, use_index=False)
    assert _ids(indexed) == _ids(scanned)
    assert all(filters.matches(r) for r in indexed)
    assert search.stats(trail, filters) == search.stats(trail, filters, use_index=False)


def test_filters_select_what_they_say(trail: Path) -> None:
    assert len(search.search(trail, Filters())) == 150
    assert _ids(search.search(trail, Filters(request_id="req_000042"))) == ["req_000042"]
    denied = search.search(trail, Filters(decision="deny"))
    assert denied
    assert all(r["decision"]["allowed"] is False for r in denied)
    newest = search.search(trail, Filters(), limit=3, newest_first=True)
    assert [r["time"] for r in newest] == sorted((r["time"] for r in newest), reverse=True)
    assert newest[0]["request_id"] == "req_001029"


def test_stats_per_team_and_model(trail: Path) -> None:
    stats = search.stats(trail, Filters())
    total = stats.total()
    assert total.calls == 150
    assert total.denials == total.errors == 15
    assert total.pii_findings == 2 * 30
    assert total.total_tokens == 7 * 150
    assert total.cost is None
    assert stats.groups[("red", "echo")].calls == 25


def test_the_segments_not_the_index_have_the_last_word(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path, segment_max_bytes=8192), 40)
    Index(tmp_path).sync()
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    lines[2] = lines[2].replace(b'"model":"echo"', b'"model":"other"').replace(b'"model":"gpt-4o-mini"', b'"model":"x"')
    write_lines(path, lines)
    edited = orjson.loads(lines[2])["request_id"]
    index = Index(tmp_path)
    try:
        index.sync()  # the edited segment changed size and mtime: it is indexed again
        assert edited in _ids(list(index.search(Filters(model=orjson.loads(lines[2])["model"]))))
    finally:
        index.close()


def test_parse_time_accepts_iso_and_ages() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_time("24h", now) == "2026-02-28T12:00:00.000Z"
    assert parse_time("2026-03-01", now) == "2026-03-01T00:00:00.000Z"
    assert parse_time("2026-03-01T13:00+01:00", now) == "2026-03-01T12:00:00.000Z"
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday", now)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_search_table_and_jsonl(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "search", "--dir", str(trail), "--subject", "user3", "--team", "red")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:4] == ["TIME", "REQUEST_ID", "SUBJECT", "TEAM"]
    assert all("user3" in row and " red " in row for row in rows[1:-1])
    assert rows[-1].startswith(f"({len(rows) - 2} record(s)")
    code, out, _ = _run(capsys, "search", "--dir", str(trail), "--request-id", "req_000007", "--format", "jsonl")
    assert [orjson.loads(line)["request_id"] for line in out.splitlines()] == ["req_000007"]


def test_cli_export_csv_neutralises_formulas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = audit_config(tmp_path)
    writer = SegmentWriter(config, make_signer(KEY, ""))
    writer.open()
    writer.append([request(1, model='=HYPERLINK("http://evil")'), request(2)])
    writer.sync()
    writer.close()
    code, out, _ = _run(capsys, "export", "--dir", str(tmp_path), "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["request_id"] for r in rows] == ["req_000001", "req_000002"]
    assert rows[0]["model"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["subject"] == "user1"
    assert rows[1]["decision"] == "allow"
    out_file = tmp_path / "export.jsonl"
    code, _, err = _run(capsys, "export", "--dir", str(tmp_path), "--format", "jsonl", "-o", str(out_file))
    assert "2 record(s) written" in err
    assert len(out_file.read_text().splitlines()) == 2


def test_cli_stats(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "stats", "--dir", str(trail))
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "TEAM",
        "MODEL",
        "CALLS",
        "DENIALS",
        "ERRORS",
        "PII",
        "PROMPT",
        "COMPLETION",
        "TOKENS",
        "COST",
    ]
    overall = next(row for row in rows if row.startswith("(all)"))
    assert overall.split()[2:] == ["150", "15", "15", "60", "450", "600", "1050", "-"]
    code, out, _ = _run(capsys, "stats", "--dir", str(trail), "--format", "json")
    groups = orjson.loads(out)["groups"]
    assert sum(g["calls"] for g in groups) == 150


def test_cli_verify_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_trail(audit_config(tmp_path), 8)
    monkeypatch.setenv("AUDIT_CHECKPOINT_KEY", KEY)
    code, out, _ = _run(capsys, "verify", "--dir", str(tmp_path))
    assert code == 0
    assert out.rstrip().endswith("OK: no tampering found")
    path = segments(tmp_path)[0]
    lines = read_lines(path)
    lines[3] = lines[3].replace(b'"status":200', b'"status":201')
    write_lines(path, lines)
    code, out, _ = _run(capsys, "verify", "--dir", str(tmp_path))
    assert code == 1
    assert f"ERROR: {path.name} line 4: hash mismatch" in out
    code, out, _ = _run(capsys, "verify", "--dir", str(tmp_path), "--format", "json")
    assert code == 1
    assert orjson.loads(out)["ok"] is False


def test_cli_reads_the_directory_from_the_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_trail(audit_config(tmp_path / "trail"), 3)
    config = tmp_path / "gateway.yaml"
    config.write_text(
        "providers: {echo: {type: echo}}\nmodels: {echo: {deployments: [{provider: echo}]}}\n"
        f"auth: {{anonymous: true}}\naudit: {{dir: {tmp_path / 'trail'}, checkpoint_key: {KEY}}}\n"
    )
    code, out, _ = _run(capsys, "verify", "--config", str(config))
    assert code == 0
    assert "3 record(s)" in out
    code, _, err = _run(capsys, "search", "--config", str(tmp_path / "missing.yaml"))
    assert code == 2
    assert "configuration error" in err


def test_cli_index_and_keygen(trail: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "index", "--dir", str(trail), "--rebuild")
    assert code == 0
    assert "120 record(s) indexed" in out  # the closed segments; the open one is scanned at query time
    code, out, _ = _run(capsys, "keygen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "k.pub"))
    assert code == 0
    assert "Ed25519 key" in out
    code, _, err = _run(capsys, "keygen", "--private", str(tmp_path / "k"), "--public", str(tmp_path / "k2.pub"))
    assert code == 2
    assert "refusing to overwrite" in err


def test_cli_rejects_bad_times(trail: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "search", "--dir", str(trail), "--since", "last tuesday")
    assert code == 2
    assert "not a time" in err


def test_concurrent_first_queries_index_each_segment_once(tmp_path: Path) -> None:
    write_trail(audit_config(tmp_path, segment_max_bytes=8192), 60)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: _ids(search.search(tmp_path, Filters())), range(4)))
    assert all(ids == results[0] for ids in results)
    assert sorted(results[0]) == [f"req_{n:06d}" for n in range(60)]
