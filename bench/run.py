"""Side-by-side benchmark: direct upstream, the gateway, LiteLLM and three bare pass-through proxies.

    .venv/bin/python bench/run.py            # full run (40-45 min), results in bench/results/
    .venv/bin/python bench/run.py --quick    # smoke test: a few seconds per cell
    .venv/bin/python bench/run.py --targets direct,gateway --profile

See bench/README.md for what each scenario is and how it is measured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchlib import checks, load, paired_phase, procs, profile, report, setup
from benchlib.procs import Server
from benchlib.report import Report, Row, ServerInfo
from benchlib.targets import FAST_MODEL, LLM_MODEL, PROJECT_PYTHON, ROOT, Context, Target, all_targets

BENCH = Path(__file__).resolve().parent
LOAD_CORE, SERVER_CORE = 0, 1
#: An open-loop rate above this share of the closed-loop capacity is skipped (it would only queue).
OVER_CAPACITY = 1.25
#: Rows measuring the fake upstream alone on the server core: its capacity, not a baseline.
UPSTREAM_ALONE = "direct (upstream alone on the server core)"
#: Requests per mode served before anything is measured (LiteLLM imports modules lazily on first use).
WARMUP_REQUESTS = 500


def parse_args() -> argparse.Namespace:
    names = [t.name for t in all_targets()]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 s per cell, 1 s warm-ups")
    parser.add_argument("--seconds", type=float, help="measured seconds per cell (default 10, quick 3)")
    parser.add_argument("--targets", default=",".join(names), help=f"comma-separated subset of {','.join(names)}")
    parser.add_argument("--conns", default="1,16,64", help="closed-loop connection counts")
    parser.add_argument("--rates", default="20,50,200,500", help="open-loop offered rates (requests/s)")
    parser.add_argument("--modes", default="json,stream", help="json, stream or both")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="llm upstream: wait before the first byte")
    parser.add_argument("--chunk-interval-ms", type=float, default=5.0, help="llm upstream: wait between events")
    parser.add_argument("--gateway-config", type=Path, default=BENCH / "gateway.yaml")
    parser.add_argument(
        "--gateway-key",
        default=os.environ.get("BENCH_GATEWAY_KEY"),
        help="client key sent to the gateway as 'Authorization: Bearer <key>' "
        "(default: $BENCH_GATEWAY_KEY; none when unset)",
    )
    parser.add_argument("--litellm-spec", default="litellm[proxy]", help="what to pip install into .venv-litellm")
    parser.add_argument(
        "--profile", action="store_true", help="after the measurements, sample the gateway with py-spy under load"
    )
    parser.add_argument("--profile-only", action="store_true", help="only the py-spy profile, no measurements")
    parser.add_argument("--profile-seconds", type=float, default=10.0)
    parser.add_argument(
        "--profile-targets",
        default="gateway",
        help="Python servers to profile (gateway, litellm, aiohttp-proxy, httpx-proxy)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin (results are then noisier)")
    parser.add_argument(
        "--max-foreign",
        type=float,
        default=10.0,
        help="repeat a cell when other processes used more than this %% of a core during it",
    )
    parser.add_argument(
        "--max-send-lag",
        type=float,
        default=10.0,
        help="repeat an open-loop cell when its driver sent a request more than this many ms late",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="before a cell, wait up to this many seconds for other processes to quieten",
    )
    parser.add_argument(
        "--retries", type=int, default=2, help="repeats of a disturbed cell (the least disturbed attempt is kept)"
    )
    parser.add_argument(
        "--paired-rounds",
        type=int,
        help="rounds of alternating gateway / aiohttp-proxy runs for "
        "the CPU target (default 12, quick 3; 0: no paired phase)",
    )
    parser.add_argument("--paired-seconds", type=float, help="length of one paired run (default 3, quick 1)")
    parser.add_argument(
        "--paired-latency-rounds",
        type=int,
        help="open-loop paired rounds (direct, gateway, "
        "pass-through) at 20 RPS json, 50 RPS streamed and 200 RPS both (default 6, quick 2; 0: none)",
    )
    parser.add_argument(
        "--paired-latency-seconds", type=float, help="length of one open-loop paired run (default 10, quick 2)"
    )
    parser.add_argument("--out", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    args.seconds = args.seconds or (3.0 if args.quick else 10.0)
    args.warmup = 1.0 if args.quick else 2.0
    args.paired_rounds = (3 if args.quick else 12) if args.paired_rounds is None else args.paired_rounds
    args.paired_seconds = args.paired_seconds or (1.0 if args.quick else 3.0)
    if args.paired_latency_rounds is None:
        args.paired_latency_rounds = 2 if args.quick else 6
    args.paired_latency_seconds = args.paired_latency_seconds or (2.0 if args.quick else 10.0)
    unknown = set(args.targets.split(",")) - set(names)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return args


def machine() -> dict[str, object]:
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    os_name = next(
        (
            ln.split("=", 1)[1].strip('"')
            for ln in Path("/etc/os-release").read_text().splitlines()
            if ln.startswith("PRETTY_NAME=")
        ),
        platform.system(),
    )
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "gateway", "adapters"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024 / 1024),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit + ("+uncommitted changes" if dirty else ""),
    }


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.pin = not args.no_pin and (os.cpu_count() or 1) >= 2
        self.load_core = LOAD_CORE if self.pin else None
        self.server_core = SERVER_CORE if self.pin else None
        self.build = BENCH / ".build"
        self.log_dir = self.build / "logs"
        self.conns = [int(c) for c in args.conns.split(",") if c]
        self.rates = [int(r) for r in args.rates.split(",") if r]
        self.modes = args.modes.split(",")
        self.upstreams: dict[str, Server] = {}

    # -- set-up -------------------------------------------------------------------------------------------------
    def prepare(self, targets: list[Target]) -> None:
        setup.check_tools(need_go=False)
        self.binaries = setup.build_go()
        if any(t.name == "litellm" for t in targets):
            setup.ensure_litellm(self.args.litellm_spec)
        self.bodies = load.body_files(self.build / "bodies", [FAST_MODEL, LLM_MODEL])
        if self.pin:
            os.sched_setaffinity(0, {LOAD_CORE})

    def start_upstreams(self) -> Context:
        timings = {"fast": (0.0, 0.0), "llm": (self.args.latency_ms, self.args.chunk_interval_ms)}
        urls = {}
        for name, (latency, interval) in timings.items():
            port = procs.free_port()
            command = [
                str(self.binaries["fakeupstream"]),
                "-addr",
                f"127.0.0.1:{port}",
                "-latency-ms",
                str(latency),
                "-chunk-interval-ms",
                str(interval),
            ]
            env = {"GOMAXPROCS": "1"}
            server = procs.start(f"upstream-{name}", command, core=self.load_core, log_dir=self.log_dir, env=env)
            procs.wait_ready(server, f"http://127.0.0.1:{port}/healthz")
            self.upstreams[name] = server
            urls[name] = f"http://127.0.0.1:{port}/v1"
        return Context(
            upstream_url=urls["fast"],
            llm_upstream_url=urls["llm"],
            upstream_pids={k: s.pid for k, s in self.upstreams.items()},
            server_core=self.server_core,
            log_dir=self.log_dir,
            gateway_config=self.args.gateway_config.resolve(),
            gateway_key=self.args.gateway_key,
        )

    def stop_upstreams(self) -> None:
        for server in self.upstreams.values():
            procs.stop(server)

    # -- one target ---------------------------------------------------------------------------------------------
    def measured_pids(self, target: Target, server: Server | None, phase: str) -> list[int]:
        if server is not None:
            return [server.pid]
        return [self.upstreams["fast" if phase == "closed" else "llm"].pid]

    def preflight(self, target: Target, urls: dict[str, str], headers: dict[str, str]) -> str | None:
        for phase, model in (("fast", FAST_MODEL), ("llm", LLM_MODEL)):
            for stream in (False, True):
                problem = load.check_once(
                    urls[phase] + "/chat/completions", load.chat_body(model, stream), headers, stream=stream
                )
                if problem:
                    return f"{phase} {'stream' if stream else 'json'}: {problem}"
        return None

    def measure(self, run: Callable[[], load.LoadResult], pids: list[int]) -> tuple[load.LoadResult, dict[str, float]]:
        """Run one cell; repeat it (up to --retries) while it was disturbed, and keep the least disturbed attempt.

        Disturbed: other processes on the machine used more than --max-foreign % of a core, or the
        open-loop driver sent a request more than --max-send-lag ms late. The driver shares the load
        core with the fake upstreams; when that core stalls (this VM's host sometimes stops it for
        tens of milliseconds), the requests scheduled meanwhile are counted late from their scheduled
        time, and a single stall puts a p99 over the server's own.
        """
        known = [*pids, *(s.pid for s in self.upstreams.values())]
        best: tuple[tuple[int, float], load.LoadResult, dict[str, float]] | None = None
        for attempt in range(1 + self.args.retries):
            procs.settle(pids)
            waited = procs.wait_quiet(known, self.args.max_foreign, self.args.quiet_wait)
            if waited > 1:
                print(f"    waited {waited:.0f} s for other processes on the machine to quieten")
            meter = procs.Meter(pids, known)
            result = run()
            usage = meter.stop()
            foreign = usage["foreign_pct"] / max(self.args.max_foreign, 1e-9)
            late = (result.send_lag_max or 0.0) / max(self.args.max_send_lag, 1e-9)
            disturbance = (int(foreign > 1) + int(late > 1), foreign + late)
            if best is None or disturbance < best[0]:
                best = (disturbance, result, usage)
            if disturbance[0] == 0:
                break
            if attempt < self.args.retries:
                if foreign > 1:
                    print(f"    other processes used {usage['foreign_pct']:.0f}% of a core during the cell: repeating")
                if late > 1:
                    print(f"    the driver sent up to {result.send_lag_max:.1f} ms late (load core stalled): repeating")
        assert best is not None
        procs.settle(pids)
        return best[1], best[2]

    def _row(
        self,
        name: str,
        phase: str,
        mode: str,
        load_: int,
        result: load.LoadResult,
        usage: dict[str, float],
        answered: int,
        pids: list[int],
    ) -> Row:
        return Row(
            name,
            phase,
            mode,
            load_,
            rps=result.rps,
            p50=result.p50,
            p90=result.p90,
            p99=result.p99,
            ttft_p50=result.ttft_p50,
            ttft_p90=result.ttft_p90,
            ttft_p99=result.ttft_p99,
            send_lag_max=result.send_lag_max,
            errors=result.error_count,
            requests=result.requests,
            cpu_ms=1000 * usage["server_cpu_s"] / max(answered, 1),
            peak_rss_mb=procs.peak_rss_mb(pids),
            load_core_busy=usage["load_core_busy"] if self.pin else math.nan,
            server_core_busy=usage["server_core_busy"] if self.pin else math.nan,
            foreign_pct=usage["foreign_pct"],
        )

    def closed_loop(self, name: str, url: str, mode: str, conns: int, headers: dict[str, str], pids: list[int]) -> Row:
        body = self.bodies[(FAST_MODEL, mode == "stream")]

        def run() -> load.LoadResult:
            return load.wrk(
                url, body, connections=conns, seconds=self.args.seconds, headers=headers, core=self.load_core
            )

        # Open the connections and reach a steady state before measuring.
        load.wrk(url, body, connections=conns, seconds=1, headers=headers, core=self.load_core)
        result, usage = self.measure(run, pids)
        answered = result.requests - result.errors.get("status", 0)
        return self._row(name, "closed", mode, conns, result, usage, answered, pids)

    def open_loop(
        self, target: Target, url: str, mode: str, rate: int, headers: dict[str, str], pids: list[int]
    ) -> Row:
        body = self.bodies[(LLM_MODEL, mode == "stream")]
        warmup = self.args.warmup / 2

        def run() -> load.LoadResult:
            return load.openloop(
                self.binaries["openloop"],
                url,
                body,
                rate=rate,
                seconds=self.args.seconds,
                stream=mode == "stream",
                headers=headers,
                core=self.load_core,
                warmup=warmup,
            )

        result, usage = self.measure(run, pids)
        # The driver's warm-up requests are served inside the metered window too.
        answered = result.requests - result.error_count + int(rate * warmup)
        if result.send_lag_max is not None and result.send_lag_max > 5:
            print(f"    note: the driver sent up to {result.send_lag_max:.1f} ms late (the load core is busy)")
        return self._row(target.name, "open", mode, rate, result, usage, answered, pids)

    def run_target(self, target: Target, context: Context) -> tuple[ServerInfo, list[Row]]:
        info = ServerInfo(target.name, target.description, version=self.version(target))
        rows: list[Row] = []
        print(f"\n== {target.name}: {target.description}", flush=True)
        server: Server | None = None
        try:
            server = target.launch(context, target.port)
            info.ready_s = server.ready_s if server else None
            urls, headers = target.urls(context, target.port), target.headers(context)
            problem = self.preflight(target, urls, headers)
            if problem:
                raise RuntimeError(f"pre-flight request failed: {problem}")
            pids_closed = self.measured_pids(target, server, "closed")
            served = self.warm_up(urls["fast"] + "/chat/completions", headers)
            procs.settle(pids_closed)
            info.rss_after_warmup_mb = procs.rss_mb(pids_closed)
            info.idle_cpu_pct = self.idle_cpu(pids_closed)
            if server:
                print(
                    f"   ready in {info.ready_s:.2f} s; warm-up {served} requests; RSS after warm-up "
                    f"{info.rss_after_warmup_mb:.0f} MB; idle CPU {info.idle_cpu_pct:.1f}% of a core"
                )
            for mode in self.modes:
                for conns in self.conns:
                    row = self.closed_loop(
                        target.name, urls["fast"] + "/chat/completions", mode, conns, headers, pids_closed
                    )
                    rows.append(row)
                    self.show(row)
            if server is None:
                rows += self.upstream_alone()
            pids_open = self.measured_pids(target, server, "open")
            for mode in self.modes:
                capacity = max(
                    (r.rps for r in rows if r.target == target.name and r.phase == "closed" and r.mode == mode),
                    default=math.inf,
                )
                for rate in self.rates:
                    if rate > OVER_CAPACITY * capacity:
                        row = Row(
                            target.name,
                            "open",
                            mode,
                            rate,
                            note=f"skipped: over capacity ({capacity:,.0f} RPS closed-loop)",
                        )
                    else:
                        row = self.open_loop(target, urls["llm"] + "/chat/completions", mode, rate, headers, pids_open)
                    rows.append(row)
                    self.show(row)
            info.peak_rss_mb = max(procs.peak_rss_mb(pids_closed), procs.peak_rss_mb(pids_open))
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            info.error = str(exc).splitlines()[0][:300]
            print(f"   FAILED: {exc}", flush=True)
        finally:
            if server is not None:
                procs.stop(server)
        return info, rows

    def paired_settings(self) -> paired_phase.Settings:
        a = self.args
        return paired_phase.Settings(
            conns=min(self.conns),
            cpu_rounds=a.paired_rounds,
            cpu_seconds=a.paired_seconds,
            latency_rounds=a.paired_latency_rounds,
            latency_seconds=a.paired_latency_seconds,
            rates=self.rates,
            modes=self.modes,
            warmup=a.warmup,
            load_core=self.load_core,
            max_foreign=a.max_foreign,
            quiet_wait=a.quiet_wait,
            openloop=self.binaries["openloop"],
            bodies=self.bodies,
        )

    def warm_up(self, url: str, headers: dict[str, str]) -> int:
        """Both modes, 16 connections, for --warmup seconds and at least WARMUP_REQUESTS (lazy imports, caches)."""
        served = 0
        for stream in (False, True):
            body, count, began = self.bodies[(FAST_MODEL, stream)], 0, time.perf_counter()
            while count < WARMUP_REQUESTS or time.perf_counter() - began < self.args.warmup:
                count += load.wrk(url, body, connections=16, seconds=1, headers=headers, core=self.load_core).requests
                if time.perf_counter() - began > 30:
                    break
            served += count
        return served

    def idle_cpu(self, pids: list[int], seconds: float = 3.0) -> float:
        """CPU the server uses with no traffic (timers, reload polls, background flushes), % of one core."""
        before = procs.cpu_seconds(pids)
        time.sleep(seconds)
        return 100 * (procs.cpu_seconds(pids) - before) / seconds

    def upstream_alone(self) -> list[Row]:
        """The fake upstream's capacity with a core to itself (on the server core), at the highest concurrency."""
        port = procs.free_port()
        command = [str(self.binaries["fakeupstream"]), "-addr", f"127.0.0.1:{port}"]
        server = procs.start(
            "upstream-alone", command, core=self.server_core, log_dir=self.log_dir, env={"GOMAXPROCS": "1"}
        )
        rows = []
        try:
            procs.wait_ready(server, f"http://127.0.0.1:{port}/healthz")
            for mode in self.modes:
                row = self.closed_loop(
                    UPSTREAM_ALONE,
                    f"http://127.0.0.1:{port}/v1/chat/completions",
                    mode,
                    max(self.conns),
                    {},
                    [server.pid],
                )
                rows.append(row)
                self.show(row)
        finally:
            procs.stop(server)
        return rows

    def version(self, target: Target) -> str:
        if target.name == "litellm":
            return "litellm " + setup.package_version(setup.LITELLM_VENV / "bin" / "python", "litellm")
        if target.name in ("direct", "go-proxy"):
            return (
                "Go "
                + subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
            )
        gateway = ["uvicorn", "starlette", "httptools"]
        packages = {
            "gateway": gateway,
            "gateway-fsync": gateway,
            "aiohttp-proxy": ["uvicorn", "aiohttp"],
            "httpx-proxy": ["uvicorn", "httpx"],
        }[target.name]
        return ", ".join(f"{p} {setup.package_version(PROJECT_PYTHON, p)}" for p in packages)

    @staticmethod
    def show(row: Row) -> None:
        if row.note:
            print(f"   {row.mode:6} {row.load_label:>9}  {row.note}", flush=True)
            return
        ttft = f" ttft p50 {row.ttft_p50:6.2f}" if row.ttft_p50 is not None else ""
        print(
            f"   {row.mode:6} {row.load_label:>9}  {row.rps:9,.0f} rps  p50 {row.p50:7.2f}  p90 {row.p90:7.2f}"
            f"  p99 {row.p99:7.2f} ms"
            f"{ttft}  cpu {row.cpu_ms:.3f} ms/req  err {row.errors}  other procs {row.foreign_pct:.0f}%",
            flush=True,
        )

    # -- profile ------------------------------------------------------------------------------------------------
    def profile_target(self, target: Target, context: Context, stamp: str) -> list[str]:
        """Sample the gateway with py-spy under wrk load (16 connections) and split its CPU by thread."""
        py_spy = setup.ensure_py_spy(PROJECT_PYTHON)
        server = target.launch(context, target.port)
        assert server is not None
        sections = []
        try:
            url = target.urls(context, target.port)["fast"] + "/chat/completions"
            headers = target.headers(context)
            self.warm_up(url, headers)
            for mode in self.modes:
                out = self.args.out / "profiles" / f"{stamp}-{target.name}-{mode}.txt"
                sections.append(
                    profile.under_load(
                        py_spy,
                        server.pid,
                        url,
                        self.bodies[(FAST_MODEL, mode == "stream")],
                        headers,
                        out=out,
                        seconds=self.args.profile_seconds,
                        core=self.load_core,
                        title=f"{target.name}, {mode}, 16 connections (wrk)",
                    )
                )
                print(sections[-1])
        finally:
            procs.stop(server)
        return sections


def main() -> int:
    args = parse_args()
    bench = Bench(args)
    wanted = args.targets.split(",")
    targets = [t for t in all_targets() if t.name in wanted]
    started = dt.datetime.now(dt.UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    try:
        bench.prepare(targets)
    except setup.SetupError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    pinning = (
        f"load generators (wrk, openloop), fake upstreams and this harness on core {LOAD_CORE}; "
        f"server under test on core {SERVER_CORE} (taskset)"
        if bench.pin
        else "none (--no-pin or < 2 cores)"
    )
    print(f"pinning: {pinning}")
    result = Report(
        started=started.isoformat(timespec="seconds"),
        machine=machine(),
        settings={
            "pinning": pinning,
            "seconds": args.seconds,
            "warmup_s": args.warmup,
            "quick": args.quick,
            "latency_ms": args.latency_ms,
            "chunk_interval_ms": args.chunk_interval_ms,
            "conns": bench.conns,
            "rates": bench.rates,
            "modes": bench.modes,
            "gateway_config": str(args.gateway_config),
            "gateway_key": "given" if args.gateway_key else "created",
            "stream_events": "12 + usage + [DONE]",
            "max_foreign": args.max_foreign,
            "max_send_lag_ms": args.max_send_lag,
            "retries": args.retries,
        },
    )
    context = bench.start_upstreams()
    try:
        for target in [] if args.profile_only else targets:
            info, rows = bench.run_target(target, context)
            if info.error:
                # A server that dies or stops answering once (LiteLLM did, after its pre-flight
                # request) should not cost the run its comparison: one more attempt, from scratch.
                print(f"   starting {target.name} again (once)", flush=True)
                failure = info.error
                info, rows = bench.run_target(target, context)
                info.first_failure = failure
            result.servers.append(info)
            result.rows.extend(rows)
        if not args.profile_only:
            result.paired = paired_phase.run(targets, context, bench.paired_settings())
        if args.profile or args.profile_only:
            for target in targets:
                if target.name in args.profile_targets.split(","):
                    result.profiles += bench.profile_target(target, context, stamp)
    finally:
        bench.stop_upstreams()
    report.add_deltas(result.rows)
    result.checks = checks.evaluate(
        result.rows, result.servers, bench.conns, bench.rates, UPSTREAM_ALONE, result.paired
    )
    text = report.markdown(result)
    md_path, json_path = report.write(result, args.out, stamp)
    print("\n" + text)
    print(f"written: {md_path} and {json_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
