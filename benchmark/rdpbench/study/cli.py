"""``rdpbench study``: create, serve, export-static, import, simulate, status, export, analyze.

Exit codes as for the other commands: 0 success, 2 invalid request (the one-line error says why).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from rdpbench.study import DESIGNS

RESPONSE_COLUMNS = ["rater", "trial", "image", "left", "right", "choice", "chosen", "response_ms", "answered_at",
                    "position", "is_probe", "source"]  # position: 1 = the rater's first trial


def _create(args) -> int:
    from rdpbench.study.design import Request, create, parse_crop

    split = lambda text: [t.strip() for t in text.split(",") if t.strip()] if text else []  # noqa: E731
    request = Request(args.design, entries=split(args.entries), test=args.test, anchor=args.anchor,
                      codecs=split(args.codecs), max_bpp_diff=args.max_bpp_diff, images=args.images,
                      probes=args.probes, seed=args.seed, crop=parse_crop(args.crop), flicker_hz=args.flicker_hz,
                      not_sure=not args.no_not_sure)
    design = create(Path(args.results), Path(args.out), request)
    _write_texts(Path(args.out), design)
    print(f"study {args.out}: {len(design['trials'])} trials per rater "
          f"({request.probes} probes) on {len(design['images'])} images, {len(design['entries'])} entries; "
          f"next: rdpbench study serve {args.out}")
    if design.get("unmatched"):
        dropped = len({row["image"] for row in design["unmatched"] if row["image_dropped"]})
        print(f"not matched within --max-bpp-diff {request.max_bpp_diff}: {len(design['unmatched'])} setting(s) of "
              f"{request.codecs[0]}, {dropped} image(s) left out (listed in study.json 'unmatched' and by "
              "`study analyze`)")
    return 0


def _write_texts(folder: Path, design: dict) -> None:
    from rdpbench.study.consent import write_defaults
    from rdpbench.study.practice import DEFAULT_PRACTICE

    for path in write_defaults(folder, design, DEFAULT_PRACTICE):
        print(f"{path}: default text, edit it before serving")


def _serve(args) -> int:
    from rdpbench.study.platform import Platform
    from rdpbench.study.webapp import serve

    platform = Platform.checked(args.platform, args.completion_url, args.completion_code)
    serve(Path(args.study), args.host, args.port, platform, args.practice)
    return 0


def _export_static(args) -> int:
    from rdpbench.study.static import export_static

    ids = export_static(Path(args.study), Path(args.out), args.raters)
    print(f"static study {args.out}: {len(ids)} rater links in {args.out}/links.csv; "
          f"collect the answer files and run `rdpbench study import {args.study} FILE...`")
    return 0


def _import(args) -> int:
    from rdpbench.study.static import import_file

    for path in args.files:
        added, known, code = import_file(Path(args.study), Path(path))
        print(f"{path}: {added} answers added, {known} already recorded; "
              + (f"completion code {code}" if code else "not complete (no completion code)"))
    return 0


def _simulate(args) -> int:
    from rdpbench.study.simulate import simulate

    ids = simulate(Path(args.study), args.raters, args.model, args.noise, args.inattentive, args.seed, args.not_sure)
    print(f"{len(ids)} simulated raters answered every trial ({args.inattentive} inattentive); source "
          "`simulated`: `study analyze` leaves them out once the study has real answers (--include-simulated keeps them)")
    return 0


def _power(args) -> int:
    from rdpbench.study.power import power, print_progress, report

    curve, needed, question = power(Path(args.study), args.model, args.target_se, args.effect, args.alpha,
                                    args.power, args.noise, args.max_raters, args.simulations, args.seed,
                                    print_progress)
    print(report(curve, needed, question, args.max_raters))
    return 0


def _status(args) -> int:
    import pandas as pd

    from rdpbench.study.analysis import responses_frame, screen
    from rdpbench.study.session import SOURCES, Session, source_kind

    session = Session(Path(args.study))
    frame = responses_frame(session)
    n_probes = sum(t["is_probe"] for t in session.trials)
    _, raters = screen(frame, n_probes)
    registered = session.responses.raters()
    complete = int((raters["answers"] == len(session.trials)).sum()) if len(raters) else 0
    print(f"study {args.study} ({session.design['design']}): {len(session.trials)} trials per rater, "
          f"{n_probes} probes")
    print(f"raters: {len(registered)} registered, {len(raters)} answered, {complete} complete; "
          f"answers: {len(frame)}")
    registered_by = pd.Series([source_kind(source) for *_, source in registered], dtype=object).value_counts()
    answers_by = frame["source"].value_counts()
    for source in SOURCES:
        if registered_by.get(source, 0) or answers_by.get(source, 0):
            print(f"  {source}: {registered_by.get(source, 0)} raters registered, {answers_by.get(source, 0)} answers")
    for status, count in raters["status"].value_counts().items():
        print(f"  {count} {status}")
    if args.participant:
        _participant(args.study, session, raters, args.participant)
    if args.codes:
        for rater in raters.itertuples():
            print(f"{rater.rater} {rater.source} {session.code_of(rater.rater) or '-'} {rater.answers} {rater.status}")
    return 0


def _participant(study: str, session, raters, participant: str) -> None:
    from rdpbench.study.platform import find

    found = find(Path(study), session, participant)
    if not found:
        print(f"participant {participant}: not in this study")
    for platform, rater in found:
        row = raters[raters["rater"] == rater]
        answers, status = (int(row["answers"].iloc[0]), row["status"].iloc[0]) if len(row) else (0, "no answers")
        print(f"participant {participant} ({platform}): rater {rater}, {answers} of {len(session.trials)} answers, "
              f"{status}, completion code {session.code_of(rater) or '-'}")


def _export(args) -> int:
    from rdpbench.study.analysis import responses_frame
    from rdpbench.study.session import Session

    frame = responses_frame(Session(Path(args.study)))
    frame = frame.assign(position=frame["position"] + 1)[RESPONSE_COLUMNS]
    out = Path(args.out) if args.out else Path(args.study) / "responses.csv"
    frame.to_csv(out, index=False, quoting=csv.QUOTE_MINIMAL)
    print(f"{out}: {len(frame)} answers")
    return 0


def _analyze(args) -> int:
    from rdpbench.report.intervals import Bootstrap
    from rdpbench.study.page import analyze

    out = Path(args.out) if args.out else Path(args.study) / "analysis"
    written = analyze(Path(args.study), out, args.include_simulated, args.min_median_rt, args.max_same_side,
                      Bootstrap(args.bootstrap, args.seed))
    print(f"analysis: {out}/index.html ({len(written)} files)")
    return 0


def _guarded(handler):
    def call(args) -> int:
        from rdpbench.study.design import StudyError

        try:
            return handler(args)
        except StudyError as error:
            print(f"rdpbench: error: {error}", file=sys.stderr)
            return 2
    return call


def add_study_parser(commands) -> None:
    """Register ``rdpbench study ...`` on the main parser's subcommands."""
    study = commands.add_parser("study", help="human 2AFC preference studies: create, serve, analyse")
    actions = study.add_subparsers(dest="study_command", required=True)

    create = actions.add_parser("create", help="build a study folder from a results folder")
    create.add_argument("results", help="an `rdpbench run --out ... --save-recon` folder")
    create.add_argument("--out", required=True, metavar="STUDY", help="new study folder")
    create.add_argument("--design", choices=DESIGNS, required=True)
    create.add_argument("--entries", metavar="E1,E2,...", help="round-robin: CODEC_LABEL:SETTING entries")
    create.add_argument("--test", metavar="ENTRY", help="anchor-ladder: the entry tested against the ladder")
    create.add_argument("--anchor", metavar="CODEC_LABEL", help="anchor-ladder: the codec whose settings form the ladder")
    create.add_argument("--codecs", metavar="A,B", help="matched-bitrate: the two codec labels; triplet: one or more")
    create.add_argument("--max-bpp-diff", type=float, default=0.005, help="matched-bitrate tolerance (default 0.005)")
    create.add_argument("--images", type=int, metavar="N", help="use at most N images (sorted by name)")
    create.add_argument("--probes", type=int, default=3, help="probe trials per rater (default 3, as GC)")
    create.add_argument("--seed", type=int, help="study seed (default random; recorded)")
    create.add_argument("--crop", default="512x512", metavar="WxH", help="largest picture shown (default 512x512)")
    create.add_argument("--flicker-hz", type=float, default=5.0, metavar="F",
                        help="triplet: flicker cycles per second between each side and the original (default 5: "
                             "each picture 100 ms; 0: no flicker)")
    create.add_argument("--no-not-sure", action="store_true", help="triplet: no \"not sure\" answer (default: offered)")
    create.set_defaults(handler=_guarded(_create))

    serve = actions.add_parser("serve", help="serve the rater web app")
    serve.add_argument("study")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--platform", choices=("none", "prolific", "mturk"), default="none",
                       help="crowd platform hand-off: participant id from the URL (stored as a salted hash), "
                            "completion redirect (default none)")
    serve.add_argument("--completion-url", metavar="URL", help="where a rater goes after the last answer; {code} is "
                       "replaced (prolific default: https://app.prolific.com/submissions/complete?cc={code})")
    serve.add_argument("--completion-code", metavar="CODE", help="prolific: the study's completion code that Prolific issued")
    serve.add_argument("--practice", type=int, default=2, metavar="N",  # practice.DEFAULT_PRACTICE
                       help="practice trials before the first real one, never counted (default 2)")
    serve.set_defaults(handler=_guarded(_serve))

    static = actions.add_parser("export-static", help="a serverless copy of the study for crowdsourcing or a lab")
    static.add_argument("study")
    static.add_argument("out", help="new folder")
    static.add_argument("--raters", type=int, default=20, help="rater links to issue (default 20)")
    static.set_defaults(handler=_guarded(_export_static))

    ingest = actions.add_parser("import", help="record answer files saved by the static study page")
    ingest.add_argument("study")
    ingest.add_argument("files", nargs="+")
    ingest.set_defaults(handler=_guarded(_import))

    simulate = actions.add_parser("simulate", help="add synthetic raters (power analysis, tests)")
    simulate.add_argument("study")
    simulate.add_argument("--raters", type=int, required=True)
    simulate.add_argument("--model", required=True,
                          help="bt:ENTRY=S,ENTRY=S,..., metric:NAME, or (triplet studies) jnd:ENTRY=JND,...")
    simulate.add_argument("--noise", type=float, default=0.0, help="probability of a random answer")
    simulate.add_argument("--inattentive", type=int, default=0, help="extra raters answering at random")
    simulate.add_argument("--seed", type=int)
    simulate.add_argument("--not-sure", type=float, default=0.0, metavar="Q",
                          help="triplet: share of would-be guesses answered \"not sure\" (default 0)")
    simulate.set_defaults(handler=_guarded(_simulate))

    power = actions.add_parser("power", help="raters needed for a target SE or effect, by simulation on throw-away copies")
    power.add_argument("study")
    power.add_argument("--model", required=True, help="simulated raters: bt:ENTRY=S,ENTRY=S,... or metric:NAME")
    goal = power.add_mutually_exclusive_group(required=True)
    goal.add_argument("--target-se", type=float, metavar="SE", help="largest acceptable preference SE of any pairing")
    goal.add_argument("--effect", type=float, metavar="P",
                      help="detect pairings preferred at least P (0.5-1) by a t-test at --alpha with --power")
    power.add_argument("--alpha", type=float, default=0.05, help="test level with --effect (default 0.05)")
    power.add_argument("--power", type=float, default=0.8, help="wanted power with --effect (default 0.8)")
    power.add_argument("--noise", type=float, default=0.0, help="simulated raters' probability of a random answer")
    power.add_argument("--max-raters", type=int, default=64, help="largest rater count tried (default 64)")
    power.add_argument("--simulations", type=int, default=20, help="simulated studies per rater count (default 20)")
    power.add_argument("--seed", type=int, default=0, help="seed of the first simulation (default 0)")
    power.set_defaults(handler=_guarded(_power))

    status = actions.add_parser("status", help="raters, answers, probe failures")
    status.add_argument("study")
    status.add_argument("--codes", action="store_true", help="list each rater's completion code")
    status.add_argument("--participant", metavar="ID", help="the rater, answers and status of a platform participant id")
    status.set_defaults(handler=_guarded(_status))

    export = actions.add_parser("export", help="write responses.csv")
    export.add_argument("study")
    export.add_argument("--out", metavar="FILE.csv", help="default STUDY/responses.csv")
    export.set_defaults(handler=_guarded(_export))

    analyze = actions.add_parser("analyze", help="preferences, rankings, bitrate savings, metric agreement")
    analyze.add_argument("study")
    analyze.add_argument("--out", metavar="DIR", help="default STUDY/analysis")
    analyze.add_argument("--include-simulated", action="store_true",
                         help="count `study simulate` answers too in a study with real answers (default: left out)")
    analyze.add_argument("--min-median-rt", type=float, default=1.0, metavar="SECONDS",
                         help="exclude raters whose median response time is below this (default 1.0; 0: off)")
    analyze.add_argument("--max-same-side", type=float, default=90.0, metavar="PERCENT",
                         help="exclude raters choosing one side on more than this %% of answers (default 90; 100: off)")
    analyze.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                         help="resamples of the bootstrap intervals over raters and images (default 1000; 0: none)")
    analyze.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples (default 0)")
    analyze.set_defaults(handler=_guarded(_analyze))
