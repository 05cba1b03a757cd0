"""A/B: CPU per request of gateway variants, measured side by side in alternating runs.

    .venv/bin/python bench/ab.py before=/tmp/gateway-main after=.
    .venv/bin/python bench/ab.py ack-write=. ack-fsync=.@bench/gateway-ack-fsync.yaml aiohttp-proxy
    .venv/bin/python bench/ab.py before=/tmp/gateway-main after=. aiohttp-proxy --rate 20   # added p50 instead

A variant is ``NAME=CHECKOUT[@CONFIG]``: the gateway of that checkout (another
commit's worktree, say; it runs on this project's virtual environment), served
with that configuration (default ``bench/gateway.yaml``), or ``aiohttp-proxy``,
the bare pass-through the CPU target is measured against, or ``go-proxy``, the
bare compiled one (what any proxy adds on this machine). Every variant runs
at once, each its own process pinned to the server core, all idle but one: the
runs alternate between them (a few seconds of wrk each, one connection by
default), so a machine whose speed drifts during the session drifts for all of
them. A single run's CPU per request moves by 3-5 % on this VM, and a full
``run.py`` measures each cell once; the median of several alternating runs
tells changes of 2 % apart.

With ``--rate R`` the variants are compared on latency instead: the fake
upstream waits like a model (20 ms before the first byte, 5 ms between stream
events), and each round paces the direct call and then every variant at R
requests per second with the open-loop driver; the result is the median over
rounds of each variant's p50, p99 (and time to first token, for streams) minus
the direct call's in the same round, as in ``run.py``'s paired phase.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from benchlib import load, paired, paired_phase, procs, report, setup
from benchlib.targets import (
    BENCH,
    FAST_MODEL,
    LLM_MODEL,
    PROJECT_PYTHON,
    Context,
    Target,
    all_targets,
    ensure_gateway_key,
    gateway_env,
)

LOAD_CORE, SERVER_CORE = 0, 1
#: The model-like timing of the fake upstream in ``--rate`` runs (run.py's defaults).
LLM_TIMING = ("-latency-ms", "20", "-chunk-interval-ms", "5")
#: Runs the gateway of the checkout named by the first argument, on this environment's packages.
LAUNCHER = "import sys; sys.path.insert(0, sys.argv.pop(1)); from gateway.cli import main; raise SystemExit(main())"


@dataclass
class Variant:
    name: str
    checkout: Path | None  # None: the bare aiohttp pass-through
    config: Path
    server: procs.Server | None = None
    port: int = field(default_factory=procs.free_port)

    def base_url(self, context: Context, phase: str) -> str:
        """Where this variant serves the ``fast`` or the ``llm`` upstream's model."""
        if self.checkout is None:
            return reference(self.name).urls(context, self.port)[phase]
        return f"http://127.0.0.1:{self.port}/v1"


#: The bare pass-throughs a variant may name instead of a checkout.
REFERENCES = ("aiohttp-proxy", "go-proxy")


def reference(name: str) -> Target:
    """The pass-through proxy of that name, as run.py defines it."""
    return next(target for target in all_targets() if target.name == name)


def parse_variant(text: str) -> Variant:
    if text in REFERENCES:
        return Variant(text, None, Path())
    name, sep, rest = text.partition("=")
    if not sep or not name:
        raise SystemExit(f"ab.py: a variant is NAME=CHECKOUT[@CONFIG], {' or '.join(REFERENCES)}, not {text!r}")
    checkout, _, config = rest.partition("@")
    path = Path(checkout).resolve()
    if not (path / "gateway" / "cli.py").is_file():
        raise SystemExit(f"ab.py: {path} is not a checkout of this project")
    return Variant(name, path, Path(config or BENCH / "gateway.yaml").resolve())


def launch(variant: Variant, context: Context) -> procs.Server:
    if variant.checkout is None:  # the reference, started as run.py starts it
        server = reference(variant.name).launch(context, variant.port)
        assert server is not None
        return server
    _, env = gateway_env(context)
    # Each variant its own working directory: its own audit trail, and its checkout's policies/.
    run_dir = context.log_dir.parent / "ab" / variant.name
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    (run_dir / "policies").symlink_to(variant.checkout / "policies")
    command = [
        str(PROJECT_PYTHON),
        "-c",
        LAUNCHER,
        str(variant.checkout),
        "serve",
        "--config",
        str(variant.config),
        "--port",
        str(variant.port),
        "--workers",
        "1",
    ]
    server = procs.start(variant.name, command, core=SERVER_CORE, log_dir=context.log_dir, env=env, cwd=run_dir)
    procs.wait_ready(server, f"http://127.0.0.1:{variant.port}/readyz")
    return server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="+", help=f"NAME=CHECKOUT[@CONFIG], {' or '.join(REFERENCES)}")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of one run")
    parser.add_argument("--conns", type=int, default=1)
    parser.add_argument("--mode", choices=("json", "stream"), default="json")
    parser.add_argument(
        "--together", action="store_true", help="load every variant at the same time in each round instead of in turn"
    )
    parser.add_argument(
        "--rate", type=int, help="compare added p50 at this constant rate (open loop, model-like upstream) instead"
    )
    args = parser.parse_args()
    if args.rate is not None and args.together:
        raise SystemExit("ab.py: --rate rounds pace one server at a time; --together does not apply")
    variants = [parse_variant(v) for v in args.variants]
    if len({v.name for v in variants}) != len(variants):
        raise SystemExit("ab.py: variant names must differ")
    setup.check_tools(need_go=False)
    binaries = setup.build_go()
    log_dir = setup.BUILD / "logs"
    upstream_port = procs.free_port()
    timing = LLM_TIMING if args.rate is not None else ()
    upstream = procs.start(
        "ab-upstream",
        [str(binaries["fakeupstream"]), "-addr", f"127.0.0.1:{upstream_port}", *timing],
        core=LOAD_CORE,
        log_dir=log_dir,
        env={"GOMAXPROCS": "1"},
    )
    url = f"http://127.0.0.1:{upstream_port}/v1"
    context = Context(url, url, {"fast": upstream.pid}, SERVER_CORE, log_dir, BENCH / "gateway.yaml", None)
    model = FAST_MODEL if args.rate is None else LLM_MODEL
    body = load.body_files(setup.BUILD / "bodies", [model])[(model, args.mode == "stream")]
    try:
        procs.wait_ready(upstream, f"{url.removesuffix('/v1')}/healthz")
        ensure_gateway_key(context)
        headers = {"Authorization": f"Bearer {context.gateway_key}"}
        for variant in variants:
            variant.server = launch(variant, context)
        if args.rate is not None:
            latency(args, variants, context, headers, binaries["openloop"], body)
            return 0
        contenders = [
            paired.Contender(v.name, f"{v.base_url(context, 'fast')}/chat/completions", v.server.pid, headers)
            for v in variants
            if v.server is not None
        ]

        def show(round_: int, done: list[paired.Contender]) -> None:
            cells = "  ".join(f"{c.name} {c.cpu_ms[-1]:.3f}" for c in done)
            print(f"round {round_}: {cells}", flush=True)

        try:
            paired.alternate(
                contenders,
                body,
                rounds=args.rounds,
                seconds=args.seconds,
                conns=args.conns,
                core=LOAD_CORE,
                simultaneous=args.together,
                on_round=show,
            )
        except RuntimeError as exc:  # a variant answered with errors: its log says why
            logs = "\n".join(f"--- {v.name}:\n{v.server.tail()}" for v in variants if v.server is not None)
            raise RuntimeError(f"{exc}\n{logs}") from None
    finally:
        for variant in variants:
            if variant.server is not None:
                procs.stop(variant.server)
        procs.stop(upstream)
    first = contenders[0]
    how = "simultaneous" if args.together else "alternating"
    print(
        f"\nCPU ms per request, {args.conns} connection(s), {args.mode}, median of {args.rounds} {how} runs "
        f"of {args.seconds:g} s; the last column is the median of each round's ratio to the first:\n"
    )
    print("| variant | CPU ms/request | range | RPS | ÷ first |")
    print("|---|---:|---:|---:|---:|")
    for c in contenders:
        print(
            f"| {c.name} | {c.median_cpu_ms:.3f} | {min(c.cpu_ms):.3f}-{max(c.cpu_ms):.3f} "
            f"| {c.median_rps:,.0f} | {paired.median_ratio(c, first):.3f} |"
        )
    print_threads(contenders)
    return 0


def print_threads(contenders: list[paired.Contender]) -> None:
    """CPU per request by thread: the event loop (``main``), the provider client's runtime, the audit sync thread…"""
    names = paired.main_first({n for c in contenders for n in c.threads})
    shown = [n for n in names if any(c.median_thread_ms(n) >= paired.SHOWN_THREAD_MS for c in contenders)]
    print(
        "\nCPU ms per request by thread (medians, by the kernel's thread name: `main` is the event loop, "
        "`pyreqwest` the provider client's runtime in gateways before 0.6; Python 3.11 leaves its own threads, "
        "the audit sync thread among them, with the process's name, here `python`):\n"
    )
    print("| variant | " + " | ".join(shown) + " |")
    print("|---|" + "---:|" * len(shown))
    for c in contenders:
        print(f"| {c.name} | " + " | ".join(f"{c.median_thread_ms(n):.3f}" for n in shown) + " |")


def latency(
    args: argparse.Namespace,
    variants: list[Variant],
    context: Context,
    headers: dict[str, str],
    openloop: Path,
    body: Path,
) -> None:
    """Rounds of the direct call and each variant at ``args.rate``; prints the added p50 (and TTFT) per variant."""
    pacers = [paired.Pacer("direct", f"{context.llm_upstream_url}/chat/completions")]
    pacers += [paired.Pacer(v.name, f"{v.base_url(context, 'llm')}/chat/completions", headers) for v in variants]
    cell = paired_phase.latency_rounds(
        pacers,
        openloop,
        body,
        mode=args.mode,
        rate=args.rate,
        rounds=args.rounds,
        seconds=args.seconds,
        core=LOAD_CORE,
        warmup=1.0,
    )
    print(
        f"\nAdded latency at {args.rate} RPS offered, {args.mode}, median over {args.rounds} rounds of "
        f"{args.seconds:g} s of (variant - direct call) in the same round:\n"
    )
    print("| variant | p50 ms, median | added p50 | added p99 | added TTFT p50 |")
    print("|---|---:|---:|---:|---:|")
    for pacer in pacers[1:]:
        added = cell.added_p50.get(pacer.name)
        tail = cell.added_p99.get(pacer.name)
        ttft = cell.added_ttft_p50.get(pacer.name)
        print(
            f"| {pacer.name} | {statistics.median(pacer.p50):.2f} | {report.figure(added, signed=True)} "
            f"| {report.figure(tail, signed=True)} | {report.figure(ttft, signed=True)} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
