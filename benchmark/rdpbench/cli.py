"""The `rdpbench` command: run, report, codecs, datasets, weights, study.

Exit codes: 0 success; 1 the run finished but some tasks have error rows (``weights status``: some
files are missing); 2 the request was invalid or could not start (unknown codec or key, missing
tool, dataset not fetched, unsafe path, damaged store, ...): one line ``rdpbench: error: ...`` says
what to do; 130 interrupted (Ctrl-C or SIGTERM; the run is recorded as ``interrupted`` and the
same command resumes it).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sqlite3
import sys
from pathlib import Path

from rdpbench import __version__


def _run(args: argparse.Namespace) -> int:
    from rdpbench import plugins
    from rdpbench.metrics.registry import METRICS
    from rdpbench.paths import user_path
    from rdpbench.runner import run
    from rdpbench.spec import CodecSpec, RunSpec, SpecError, find_config, load_config, parse_assignment, parse_values

    spec = load_config(find_config(args.config)) if args.config else RunSpec(codecs=[])
    if spec.plugins:  # code named by a config: said out loud (benchmark/docs/safety.md)
        print(f"rdpbench: loading plug-in code named in {args.config}: {', '.join(map(str, spec.plugins))}",
              file=sys.stderr)
    plugins.add(spec.plugins)  # before any plug-in name is resolved
    codec_options = {}
    for text in args.option:
        key, value = parse_assignment(text, "--option")
        metric, dot, option = key.partition(".")
        if dot:  # METRIC.KEY=VALUE, e.g. lpips.net=vgg
            spec.metric_options.setdefault(METRICS.resolve(metric), {})[option] = value
        else:
            codec_options[key] = value
    if args.codec:  # --sweep and --option apply to every --codec given
        sweep = {key: parse_values(value) for key, value in (parse_assignment(s, "--sweep") for s in args.sweep)}
        spec.codecs = [CodecSpec(name, options=dict(codec_options), sweep=dict(sweep))
                       for name in dict.fromkeys(args.codec)]
    elif args.sweep or codec_options:
        raise SpecError("--sweep and --option apply to one codec or more: add --codec NAME (repeat it for several; "
                        "a config describes codecs with different sweeps)")
    if args.images or args.dataset:
        spec.images = user_path(args.images) if args.images else None
        spec.dataset = args.dataset
    if args.metrics:
        spec.metrics = [name for name in args.metrics.split(",") if name.strip()]
    for attribute in ("jobs", "device"):
        if getattr(args, attribute) is not None:
            setattr(spec, attribute, getattr(args, attribute))
    if args.memory_budget is not None:
        from rdpbench.memory import BudgetError, parse_size

        try:
            spec.memory_budget = parse_size(args.memory_budget)
        except BudgetError as error:
            raise SpecError(f"--memory-budget: {error}") from None
    spec.out = user_path(args.out) if args.out else spec.out
    spec.save_recon = args.save_recon or spec.save_recon
    spec.retry_errors = args.retry_errors
    spec.weights_dir = user_path(args.weights_dir) if args.weights_dir else spec.weights_dir
    spec.allow_unverified_weights = args.allow_unverified_weights
    if args.scheduler or args.cluster:  # replaces the config's choice of cluster, keeps its options
        spec.executor = {k: v for k, v in spec.executor.items() if k not in ("scheduler", "cluster")}
        spec.executor.update({"scheduler": args.scheduler} if args.scheduler else {"cluster": args.cluster})
    if args.match_bpp:
        if ":" not in args.match_bpp:
            raise SpecError("--match-bpp wants CODEC:SETTING, e.g. hific:checkpoint=msillm_quality_3")
        spec.match_bpp, spec.match_side = args.match_bpp, args.match_side
    outcome = run(spec, shlex.join(["rdpbench", *sys.argv[1:]]))
    print(f"results: {outcome.folder}/ ({', '.join(outcome.written)})")
    if outcome.n_failed:
        print(f"{outcome.n_failed} of {outcome.n_requested} tasks have errors: see the 'error' column of "
              f"{outcome.folder}/per_image.csv", file=sys.stderr)
    return outcome.exit_code


def _codecs(args: argparse.Namespace) -> int:
    from rdpbench.codecs.registry import CODECS, codec_dirs, create_codec
    from rdpbench.registry import UnknownNameError

    entries = CODECS.entries()
    shown = [entries[CODECS.resolve(args.name)]] if args.name else list(entries.values())
    if not shown:
        folders = ", ".join(map(str, codec_dirs())) or "no codec folder exists"
        print(f"no codecs found (codec folders: {folders}; entry-point group {CODECS.group}): "
              "reinstall rdpbench, or add plug-ins with --plugin PATH or RDPBENCH_PLUGINS")
        return 0
    width = max(len(entry.name) for entry in shown)
    for entry in shown:
        try:
            codec = create_codec(entry.name)
        except UnknownNameError as error:
            print(f"{entry.name:{width}s} BROKEN     {error}")
            continue
        reason = codec.unavailable_reason()
        state = "available" if reason is None else "missing"
        version = codec.version() if reason is None else reason
        print(f"{codec.name:{width}s} {state:10s} {codec.description} — {version}")
        if reason and codec.install_hint:
            print(f"{'':{width + 11}s}install: {codec.install_hint}")
        if codec.defaults_note:
            print(f"{'':{width + 11}s}defaults: {codec.defaults_note}")
        for param in codec.params:
            print(f"{'':{width + 11}s}{param.describe()}")
    return 0


def _configs(args: argparse.Namespace) -> int:
    """The shipped configs (name, dataset, codecs), or one config's text (to copy and edit)."""
    from rdpbench.spec import find_config, load_config, shipped_configs

    if args.name:
        print(find_config(args.name).read_text(), end="")
        return 0
    configs = shipped_configs()
    for name, path in configs.items():
        spec = load_config(path)
        codecs = ", ".join(dict.fromkeys(codec.name for codec in spec.codecs))
        print(f"{name:26s} {spec.dataset or spec.images}: {codecs}; metrics {','.join(spec.metrics)}")
    print(f"({len(configs)} configs in {next(iter(configs.values())).parent if configs else 'no folder'}; "
          "`rdpbench run NAME` runs one, `rdpbench configs NAME` prints it)")
    return 0


def _metrics(args: argparse.Namespace) -> int:
    """Every metric with what it declares, then every feature extractor."""
    from rdpbench.context import RunContext
    from rdpbench.features.registry import EXTRACTORS
    from rdpbench.metrics.registry import METRICS

    for title, registry in (("metrics", METRICS), ("feature extractors", EXTRACTORS)):
        print(f"{title}:")
        for entry in registry.entries().values():
            reason = registry.unavailable_reason(entry.name, RunContext())
            if reason:
                print(f"  {entry.name}  NOT AVAILABLE: {reason}")
                continue
            plugin = registry.create(entry.name, RunContext())
            if registry is METRICS:
                columns = "; ".join(f"{c.name}: {c.heading}{', ' + c.direction if c.direction else ''}, "
                                    f"{c.decimals} decimals" for c in plugin.column_info())
                options = ", ".join(f"{k}={v}" for k, v in plugin.defaults.items()) or "none"
                extractor = f", features: {plugin.extractor}" if plugin.kind == "distribution" else ""
                print(f"  {entry.name}  [{plugin.kind}{extractor}] {columns}")
                print(f"      table: {plugin.group}; options: {options}; "
                      f"weight files: {', '.join(plugin.weight_names()) or 'none'}")
                if plugin.reference:
                    print(f"      reference: {plugin.reference.implementation}; checked to "
                          f"{plugin.reference.tolerance()} ({plugin.reference.why}) on {plugin.reference.check}")
            else:
                print(f"  {plugin.describe()}")
                print(f"      weight files: {', '.join(plugin.weight_names()) or 'none'}")
            if entry.source != "built-in":
                print(f"      from {entry.source}")
    return 0


def _datasets(args: argparse.Namespace) -> int:
    from rdpbench import datasets

    if args.action == "fetch":
        if not args.name:
            raise datasets.DatasetError("usage: rdpbench datasets fetch NAME")
        root = datasets.fetch(args.name, Path(args.source) if args.source else None)
        print(f"{args.name}: verified copy in {root}")
        return 0
    for name in datasets.manifest_names():
        try:
            manifest = datasets.load_manifest(name)
        except datasets.DatasetError as error:  # one broken manifest does not hide the others
            print(f"{name:28s} {'BROKEN':12s} {error}")
            continue
        fetched = (datasets.dataset_root(manifest) / datasets.LOCK_NAME).is_file()
        print(f"{name:28s} {'fetched' if fetched else 'not fetched':12s} {manifest.description}")
    return 0


def _weights(args: argparse.Namespace) -> int:
    from rdpbench.context import RunContext
    from rdpbench.metrics.registry import create_metric
    from rdpbench.weights import KNOWN, Weights, WeightsError

    weights = Weights.from_options(args.weights_dir, allow_unverified=args.action == "status")
    needed: dict[str, str] = {}
    for name in (args.metrics.split(",") if args.metrics else []):
        metric = create_metric(name, RunContext(weights=weights))
        needed.update({file: metric.name for file in metric.weight_names()})
    if args.codec:
        from rdpbench.runner import plan_codecs
        from rdpbench.spec import CodecSpec, RunSpec, parse_assignment, parse_values

        sweep = {key: parse_values(value) for key, value in (parse_assignment(s, "--sweep") for s in args.sweep)}
        options = dict(parse_assignment(o, "--option") for o in args.option)
        planned = plan_codecs(RunSpec([CodecSpec(args.codec, options, sweep)]), RunContext(weights=weights))[0]
        needed.update({file: f"{args.codec} {setting}" for setting, params in planned.settings
                       for file in planned.codec.weight_names(params)})
    for name in args.names:
        if name not in KNOWN:
            raise WeightsError(f"unknown weight file {name!r}; known: {', '.join(sorted(KNOWN))}")
        needed[name] = KNOWN[name].used_by
    if not needed:
        needed = {name: file.used_by for name, file in KNOWN.items()}
    missing = 0
    for name, used_by in needed.items():
        if args.action == "fetch":
            located = weights.fetch(name)
        elif weights.find(name) is None:
            print(f"{'missing':14s} {name}  (for {used_by}; {KNOWN[name].url})")
            missing += 1
            continue
        else:
            located = weights.locate(name, progress=True)
        state = located.state.upper() if located.state == "unverified" else located.state
        print(f"{state:14s} {name}  {located.path}  [{located.provenance()['meaning']}]")
    if missing:
        where = weights.directory or "a folder passed as --weights-dir"
        print(f"{missing} missing: `rdpbench weights fetch` downloads them, or copy them into {where}")
    return 1 if missing else 0


def _bpp_range(text: str):
    """--bpp-range: "shared", "full" or LOW:HIGH."""
    if text in ("shared", "full"):
        return text
    low, sep, high = text.partition(":")
    try:
        bounds = (float(low), float(high))
    except ValueError:
        bounds = None
    if not sep or bounds is None or not 0 <= bounds[0] < bounds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: use shared, full or LOW:HIGH (e.g. 0:2)")
    return bounds


def _published(args: argparse.Namespace) -> int:
    """The catalogue of published curves, or one curve with its citation, conventions and points."""
    from rdpbench import published

    if args.name:
        curve = published.curve(args.name)
        print(f"{curve.name}: {curve.label}, dataset {curve.dataset}\n  source: {curve.source}, {curve.url}\n"
              f"  cite: {curve.citation}\n  conventions: {curve.conventions}")
        for key, values in {**curve.settings, **curve.points}.items():
            print(f"  {key:14s} " + " ".join("-" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v)
                                              for v in values))
        return 0
    for curve in published.catalogue().values():
        metrics = ",".join(key for key in curve.points if key not in ("bpp", "encode_s", "decode_s"))
        print(f"{curve.name:58s} {curve.dataset:14s} {len(curve.points['bpp']):2d} points  {metrics}")
    print("`rdpbench published NAME` shows a curve's source, citation and conventions; "
          "`rdpbench report RESULTS --import NAME` overlays it")
    return 0


def _resamples(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of resamples from 0 to 100000")
    return value


def _rates(text: str) -> list[float]:
    try:
        rates = [float(part) for part in text.split(",")]
    except ValueError:
        rates = []
    if not rates or not all(0 < rate < float("inf") for rate in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: give positive bpp values separated by commas, e.g. 0.25,0.5,1.0")
    return rates


def _report(args: argparse.Namespace) -> int:
    from rdpbench import published
    from rdpbench.report.build import build
    from rdpbench.report.intervals import Bootstrap

    out = Path(args.out) if args.out else Path("reports") / Path(args.results).resolve().name
    written = build(Path(args.results), out, anchor=args.anchor,
                    metrics=[m.strip().replace("-", "_") for m in args.metrics.split(",")] if args.metrics else None,
                    preset=args.preset, imports=[published.resolve(p) for p in args.imports],
                    images=args.images.split(",") if args.images else None, target_bpp=args.target_bpp,
                    bd_method=args.bd_method, bpp_range=args.bpp_range,
                    bootstrap=Bootstrap(args.bootstrap, args.seed), at_bpp=args.at_bpp,
                    bd_all_pairs=args.bd_all_pairs, tex_settings=args.tex_settings)
    print(f"report: {out}/index.html ({len(written)} files); open it in a browser "
          f"(xdg-open {shlex.quote(str(out / 'index.html'))})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rdpbench", description="Rate–distortion–perception benchmarks of image codecs.")
    parser.add_argument("--version", action="version", version=f"rdpbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin", metavar="PATH", action="append", default=[],
                        help="a plug-in file or folder (codecs, metrics, feature extractors); repeatable; "
                             "also RDPBENCH_PLUGINS")

    run = commands.add_parser("run", parents=[common],
                              help="compress images with codecs and measure rate, distortion, perception")
    run.add_argument("config", nargs="?", help="benchmark config: a TOML file, or a shipped config's name "
                     "(`rdpbench configs`), e.g. demo")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--images", metavar="DIR", help="evaluate every image in this folder (recursive)")
    source.add_argument("--dataset", metavar="NAME", help="a fetched dataset (`rdpbench datasets`)")
    run.add_argument("--codec", metavar="NAME", action="append", default=[],
                     help="a codec (`rdpbench codecs`); repeat to add more; replaces the config's codecs")
    run.add_argument("--sweep", metavar="KNOB=V1,V2,...", action="append", default=[],
                     help="values of a knob to sweep (also START:STOP:STEP); repeat for a grid")
    run.add_argument("--option", metavar="KEY=VALUE", action="append", default=[],
                     help="fixed codec parameter, or METRIC.KEY=VALUE for a metric (lpips.net=vgg, fid.patch_size=512)")
    run.add_argument("--metrics", metavar="NAME,NAME", help="metrics to compute (default psnr,ms_ssim)")
    run.add_argument("--out", metavar="DIR", help="output folder (default results/<dataset>); runs add to it")
    run.add_argument("--jobs", type=int, metavar="N", help="worker processes (default 1: in this process)")
    run.add_argument("--device", choices=["cpu", "cuda"], help="torch device for metrics and learned codecs")
    run.add_argument("--memory-budget", metavar="SIZE",
                     help="memory one task may use, e.g. 4G (default: half the RAM / jobs); larger images are error rows")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT|FILE",
                       help="run the tasks on an existing Dask cluster (address or scheduler file)")
    where.add_argument("--cluster", choices=["local", "slurm", "pbs", "sge", "lsf"],
                       help="start a Dask cluster: local (--jobs N workers) or a job queue ([executor] in the config)")
    run.add_argument("--save-recon", action="store_true", help="write reconstructions to DIR/recon/<codec>/<setting>/")
    run.add_argument("--retry-errors", action="store_true", help="recompute tasks stored with an error")
    run.add_argument("--weights-dir", metavar="DIR", help="folder of pretrained weight files (see README)")
    run.add_argument("--allow-unverified-weights", action="store_true",
                     help="use weight files whose hash does not match, marking results unverified")
    run.add_argument("--match-bpp", metavar="CODEC:SETTING",
                     help="per image, search this run's codec's rate knob to meet that stored setting's bpp")
    run.add_argument("--match-side", choices=["above", "below", "closest"], default="above",
                     help="with --match-bpp: just above (default), just below, or closest to the target bpp")
    run.set_defaults(handler=_run)

    codecs = commands.add_parser("codecs", parents=[common], help="list codecs, their availability, versions and knobs")
    codecs.add_argument("name", nargs="?", help="show one codec")
    codecs.set_defaults(handler=_codecs)

    configs = commands.add_parser("configs", help="list the shipped benchmark configs, or print one")
    configs.add_argument("name", nargs="?", help="print this config (a name from the list)")
    configs.set_defaults(handler=_configs)

    metrics = commands.add_parser("metrics", parents=[common], help="list metrics (columns, units, directions, options, weight files) "
                                  "and feature extractors")
    metrics.set_defaults(handler=_metrics)

    data = commands.add_parser("datasets", help="list dataset manifests, or fetch one")
    data.add_argument("action", nargs="?", choices=["list", "fetch"], default="list")
    data.add_argument("name", nargs="?")
    data.add_argument("--from", dest="source", metavar="DIR", help="copy files from this folder instead of downloading")
    data.set_defaults(handler=_datasets)
    report = commands.add_parser("report", help="figures, tables, BD-rates and a comparison page from a results folder")
    report.add_argument("results", help="an `rdpbench run --out` folder")
    report.add_argument("--out", metavar="DIR", help="report folder (default reports/<results folder name>)")
    report.add_argument("--anchor", metavar="CODEC", help="codec label the BD-rates are computed against")
    report.add_argument("--metrics", metavar="NAME,NAME", help="metrics to show (default: all present)")
    report.add_argument("--preset", choices=["hific2020", "jpeg-ai-ctc", "aic4"],
                        help="a paper's figure layout or a standard's metric set")
    report.add_argument("--import", dest="imports", metavar="FILE.json|NAME", action="append", default=[],
                        help="overlay a CompressAI-format results file, or a published curve by name "
                             "(`rdpbench published`), labelled imported")
    report.add_argument("--images", metavar="NAME,NAME", help="images for the visual comparison")
    report.add_argument("--target-bpp", type=float, help="bpp the visual comparison matches (default: anchor median)")
    report.add_argument("--bd-method", choices=["akima", "pchip", "cubic"], default="akima",
                        help="BD interpolation (bjontegaard package; default akima)")
    report.add_argument("--bpp-range", type=_bpp_range, default="shared", metavar="shared|full|LOW:HIGH",
                        help="figure x-axis: the rate range all codecs reach (default), every point, or given bounds")
    report.add_argument("--bootstrap", type=_resamples, default=1000, metavar="N",
                        help="bootstrap resamples of every interval (default 1000; 0: no intervals)")
    report.add_argument("--seed", type=int, default=0, help="seed of the bootstrap draws (default 0)")
    report.add_argument("--at-bpp", type=_rates, metavar="BPP,BPP", help="tables of every metric at these rates "
                        "(interpolated on each codec's curve, never extrapolated), e.g. 0.25,0.5,1.0")
    report.add_argument("--bd-all-pairs", action="store_true", help="BD-rates of every codec against every other")
    report.add_argument("--tex-settings", type=int, default=4, metavar="N",
                        help="settings per codec in summary.tex, evenly spaced in rate (default 4; 0: all)")
    report.set_defaults(handler=_report)

    listing = commands.add_parser("published", help="list the published results rdpbench ships, or show one")
    listing.add_argument("name", nargs="?", help="a curve's name, e.g. compressai:kodak/bpg_444_x265_ycbcr")
    listing.set_defaults(handler=_published)

    weights = commands.add_parser("weights", parents=[common], help="pretrained files: which are needed, found, verified; fetch them")
    weights.add_argument("action", choices=["status", "fetch"])
    weights.add_argument("names", nargs="*", help="canonical file names (default: all, or those of --metrics)")
    weights.add_argument("--metrics", metavar="NAME,NAME", help="the files these metrics need")
    weights.add_argument("--codec", metavar="NAME", help="the files this codec needs at the --sweep settings")
    weights.add_argument("--sweep", metavar="KNOB=V1,V2,...", action="append", default=[])
    weights.add_argument("--option", metavar="KEY=VALUE", action="append", default=[])
    weights.add_argument("--weights-dir", metavar="DIR", help="where to look first and where fetch saves")
    weights.set_defaults(handler=_weights)

    from rdpbench.study.cli import add_study_parser

    add_study_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rdpbench.codecs.command_line import CardError
    from rdpbench.dask_executor import ExecutorError
    from rdpbench.datasets import DatasetError
    from rdpbench.published import PublishedError
    from rdpbench.registry import UnknownNameError
    from rdpbench.report.data import ReportError
    from rdpbench.safe_paths import UnsafePathError
    from rdpbench.spec import SpecError
    from rdpbench.store import DatasetMismatchError, StoreError
    from rdpbench.weights import WeightsError

    from rdpbench import logs, plugins

    args = build_parser().parse_args(argv)
    try:  # SIGTERM ends the run like Ctrl-C: recorded as interrupted, resumable
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        previous = None
    log = logs.default_path()
    try:
        logs.setup(log)
    except OSError as error:  # an unwritable cache folder costs the log, not the command
        print(f"rdpbench: warning: no log file ({error}); library warnings stay on the terminal", file=sys.stderr)
    size = log.stat().st_size if log.is_file() else 0
    try:
        plugins.add(getattr(args, "plugin", []))
        code = args.handler(args)
        if args.command == "run" and log.is_file() and log.stat().st_size > size:
            print(f"rdpbench: library warnings and messages of this run are in {log}", file=sys.stderr)
        return code
    except (SpecError, DatasetError, DatasetMismatchError, UnknownNameError, CardError,
            WeightsError, ReportError, StoreError, UnsafePathError, ExecutorError, PublishedError, OSError,
            sqlite3.Error) as error:
        print(f"rdpbench: error: {error}", file=sys.stderr)  # one line; stored results stay as they are
        return 2
    except KeyboardInterrupt:
        print("rdpbench: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt
