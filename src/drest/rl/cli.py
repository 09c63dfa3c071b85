"""`drest train`, `drest sweep`, `drest eval`, `drest reproduce table1`: argument parsing and printing only."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import DrestError
from ..io import check_out_dir


def _use_all_cores(args=None) -> None:
    """drest's XLA flags, before JAX starts: one CPU device per core, so a run's environments
    (or, where its gradient steps are small, its seeds) are split over all cores
    (``devices: 0``, see ``common.num_devices``) on the device mesh. With ``--coordinator``
    (or DREST_COORDINATOR) this process joins a multi-process job (``jax.distributed``)
    whose mesh spans every process's devices."""
    import os

    from .. import _xla

    _xla.configure(device_count=os.cpu_count())
    _compile_cache()
    coordinator = getattr(args, "coordinator", None) or os.environ.get("DREST_COORDINATOR")
    if not coordinator:
        return
    n = getattr(args, "num_processes", None) or os.environ.get("DREST_NUM_PROCESSES")
    pid = getattr(args, "process_id", None) or os.environ.get("DREST_PROCESS_ID")
    if n is None or pid is None:
        raise DrestError("--coordinator: also give --num-processes and --process-id "
                         "(or DREST_NUM_PROCESSES and DREST_PROCESS_ID)")
    n, pid = _int("--num-processes", n), int(str(pid))
    if not 0 <= pid < n:
        raise DrestError(f"--process-id: must be in 0..{n - 1}, got {pid}")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives across processes
    jax.distributed.initialize(coordinator, num_processes=n, process_id=pid)


def _compile_cache() -> None:
    """JAX's persistent compilation cache, so a configuration's programs compile once per
    machine, not once per command (about 6.5 s of every 20M-step `drest train` after the
    first; docs/rl.md). In ``$XDG_CACHE_HOME/drest/xla`` (default ``~/.cache/drest/xla``);
    ``DREST_COMPILE_CACHE=DIR`` puts it elsewhere, ``DREST_COMPILE_CACHE=off`` turns it off.
    Also set in the environment, so `drest reproduce`'s spawned workers use it too."""
    import os

    where = os.environ.get("DREST_COMPILE_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "drest" / "xla")
    if where.lower() == "off":
        return
    import jax

    os.environ["JAX_COMPILATION_CACHE_DIR"] = where  # read by JAX when a spawned worker imports it
    jax.config.update("jax_compilation_cache_dir", where)


def _add_distributed(p) -> None:
    g = p.add_argument_group("multi-process (jax.distributed; environment variables DREST_COORDINATOR, "
                             "DREST_NUM_PROCESSES, DREST_PROCESS_ID work too)")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="address of process 0's coordinator service")
    g.add_argument("--num-processes", help="processes in the job (each runs this same command)")
    g.add_argument("--process-id", help="this process's index, 0 .. num-processes - 1 (0 writes the run directory)")


def add_commands(sub) -> None:
    from .config import field_help

    p = sub.add_parser("train", help="train PPO or A2C agents (JAX) with the DReST or default reward",
                       description="Train PPO or A2C agents in JAX on a bank of gridworlds, evaluating exact "
                                   "NEUTRALITY and USEFULNESS on the train and test banks as it goes.",
                       epilog="config keys (--set KEY=VALUE, or KEY: VALUE in a --config file) [default]:\n"
                              + field_help() + "\n\ncompiled programs are kept in ~/.cache/drest/xla "
                              "(DREST_COMPILE_CACHE=DIR elsewhere, =off not at all)",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", help="ppo (default) or a2c")
    p.add_argument("--reward", help="drest (default) or default (raw coins, lam 1, M 1)")
    p.add_argument("--steps", help="env steps per seed, e.g. 100M, 2.5M, 50k")
    p.add_argument("--seeds", help="number of seeds trained together (default 1)")
    p.add_argument("--out", help="run directory (config.yaml, metrics.jsonl, checkpoint.npz)")
    p.add_argument("--config", help="YAML or TOML file of config keys")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (repeatable), e.g. --set lr=3e-4 --set actor_hidden=3x128")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--log", action="append", default=[], choices=["tensorboard"],
                   help="also log the evaluations and losses to TensorBoard (RUN_DIR/tensorboard; needs tensorboard)")
    _add_distributed(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("sweep", help="a grid of settings x seeds (DReST lambda, M, lr, entropy) as one program",
                       description="Train every point of a grid of settings x seeds in ONE compiled program "
                                   "(lam, meta_episode_size, lr, ent_coef, gae_lambda are traced per run), "
                                   "evaluating on the train and validation banks; re-running the same "
                                   "command resumes it. Writes summary.md and heatmap.svg beside the paper's sweep.")
    p.add_argument("--paper", action="store_true",
                   help="the paper's 26 (lam, M) points (release's PPO sweep, 20M steps each)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a swept setting and its values (repeatable: the grid is their product)")
    p.add_argument("--steps", default="20M", help="env steps per run (default 20M, as the paper's sweep)")
    p.add_argument("--seeds", default="1", help="seeds per point (default 1)")
    p.add_argument("--out", required=True, help="run directory (re-run the same command to resume)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key for every point (defaults here: test_bank=paper-val, "
                        "eval_banks=test, eval_every=steps/10)")
    p.add_argument("--no-progress", action="store_true")
    _add_distributed(p)
    p.set_defaults(func=_sweep)

    p = sub.add_parser("eval", help="exact metrics of a run's final policy on a bank",
                       description="Exact NEUTRALITY and USEFULNESS of each seed's latest policy in a run directory.")
    p.add_argument("run_dir")
    p.add_argument("--bank", default="paper-test", help="bank name or file (default paper-test)")
    p.add_argument("--instrument", default="exact", choices=("exact", "paper", "both"),
                   help="exact (default: the observation the policy was trained on), paper (the release's "
                        "evaluator, whose clock channel is wrong; see docs/rl.md) or both")
    p.set_defaults(func=_eval)

    p = sub.add_parser("reproduce", help="reproduce a published result (table1)",
                       description="Reproduce a published result; re-running the same command resumes it.")
    p.add_argument("what", help="table1: PPO/A2C x DReST/default, 5 seeds, test-set metrics")
    p.add_argument("--steps", default="100M", help="env steps per run (default 100M)")
    p.add_argument("--seeds", default="5", help="seeds per configuration (default 5)")
    p.add_argument("--out", default="results/table1/run", help="output directory")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key in all four configurations, or with ppo.KEY / a2c.KEY in one "
                        "algorithm's two (e.g. --set a2c.actor_hidden=3x256)")
    p.add_argument("--jobs", default=None,
                   help="runs trained at once, each in a single-threaded process (default: one per core, at most 4)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_reproduce)


def _int(name, value):
    text = str(value)
    digits = text[1:] if text.startswith("-") else text
    # ASCII digits only: int() would also take '1_0', '+5' and non-ASCII digits
    if not (digits.isascii() and digits.isdigit()):
        raise DrestError(f"{name}: expected an integer, got {value!r}")
    v = int(text)
    if v < 1:
        raise DrestError(f"{name}: must be at least 1, got {value!r}")
    return v


def _train(args) -> int:
    _use_all_cores(args)
    from .config import from_dict, parse_set, read_config_file
    from .runs import install_sigterm, train_run

    if args.resume:
        if any(v is not None for v in (args.algo, args.reward, args.steps, args.seeds, args.config)) or args.set:
            raise DrestError("--resume: the run's stored config.yaml is used; drop the other config options "
                             "(a changed config would not reproduce the uninterrupted run)")
        config, out = None, args.resume
    else:
        if not args.out:
            raise DrestError("--out: give a run directory, e.g. --out runs/ppo-drest")
        d = read_config_file(args.config) if args.config else {}
        flags = {"algo": args.algo, "reward": args.reward, "total_steps": args.steps,
                 "num_seeds": _int("--seeds", args.seeds) if args.seeds is not None else None}
        d.update({k: v for k, v in flags.items() if v is not None})
        d.update(parse_set(args.set))
        config, out = from_dict(d), args.out  # train_run checks --out before any work
    install_sigterm()
    import jax

    meta = train_run(config, out, resume=bool(args.resume), log=tuple(args.log),
                     progress=not args.no_progress and jax.process_index() == 0)
    if jax.process_index() != 0:
        return 0
    _print_last(Path(out))
    if meta.get("train_steps_per_sec"):
        print(f"training speed: {meta['train_steps_per_sec']:,.0f} env steps/s (all seeds)")
    return 0


def _print_last(run_dir: Path) -> None:
    from .rundir import RunDir

    run = RunDir(run_dir)
    rows = [(split, run.summary(split)) for split in ("train", "test")]
    if not any(row for _, row in rows):
        return
    print(f"{run_dir}: {max(row['env_steps'] for _, row in rows if row):,} env steps per seed")
    for split, row in rows:
        if row:
            (n, nsd), (u, usd) = row["neutrality"], row["usefulness"]
            print(f"  {split:5s}  NEUTRALITY {n:.3f} ± {nsd:.3f}   USEFULNESS {u:.3f} ± {usd:.3f}   "
                  f"({row['seeds']} seeds)")


def _eval(args) -> int:
    _use_all_cores()
    from .rundir import RunDir

    if not Path(args.run_dir).is_dir():
        raise DrestError(f"eval: no such run directory {args.run_dir!r}")
    run = RunDir(args.run_dir)
    instruments = ("exact", "paper") if args.instrument == "both" else (args.instrument,)
    data = run.write_eval(args.bank, instruments)
    print(f"{args.run_dir} on {args.bank} at {data['env_steps']:,} env steps per seed")
    for instrument in instruments:
        if len(instruments) > 1:
            print(f"{instrument} instrument:")
        print(f"{'seed':>6}  {'NEUTRALITY':>10}  {'USEFULNESS':>10}")
        for r in data["seeds"]:
            if r["instrument"] == instrument:
                print(f"{r['seed']:>6}  {r['neutrality']:>10.3f}  {r['usefulness']:>10.3f}")
        summary = data["instruments"][instrument]
        (n, nsd), (u, usd) = summary["neutrality"], summary["usefulness"]
        print(f"{'mean':>6}  {n:>6.3f} ± {nsd:.3f}  {u:>6.3f} ± {usd:.3f}")
    print(f"wrote {run.eval_path(args.bank)}")
    return 0


def _sweep(args) -> int:
    _use_all_cores(args)
    from .config import from_dict, parse_set, parse_steps
    from .runs import install_sigterm
    from .sweep import grid_points, paper_points, run_sweep

    if args.paper and args.grid:
        raise DrestError("--grid: give either --paper or --grid, not both")
    points = paper_points() if args.paper else grid_points(args.grid) if args.grid else None
    steps = parse_steps(args.steps)
    # the validation bank only, 10 times: exact evaluation of 976 train worlds for every point
    # costs more than training between evaluations (--set eval_banks=train,test adds it)
    d = {"test_bank": "paper-val", "eval_banks": "test", "eval_every": max(steps // 10, 1), **parse_set(args.set),
         "total_steps": steps, "num_seeds": _int("--seeds", args.seeds)}
    install_sigterm()
    summary = run_sweep(from_dict(d), Path(args.out), points, progress=not args.no_progress)
    print(f"wrote {Path(args.out) / 'summary.md'} ({len(summary['rows'])} points)")
    return 0


def _reproduce(args) -> int:
    if args.what != "table1":
        raise DrestError(f"reproduce: unknown target {args.what!r}; available: table1")
    _use_all_cores()
    from .config import parse_set, parse_steps
    from .runs import install_sigterm
    from .table1 import CONFIGS, reproduce_table1

    overrides = parse_set(args.set, scopes=tuple(dict.fromkeys(algo for algo, _ in CONFIGS)))
    fixed = {"algo": "the table trains both algorithms", "reward": "the table trains both rewards",
             "total_steps": "use --steps", "num_seeds": "use --seeds"}
    for key in overrides:
        name = key.rpartition(".")[2]  # a2c.algo names algo too
        if name in fixed:
            raise DrestError(f"--set {key}: reproduce table1 sets {name} itself ({fixed[name]}); drop --set {key}")
    check_out_dir(args.out)
    install_sigterm()
    reproduce_table1(Path(args.out), parse_steps(args.steps), _int("--seeds", args.seeds), overrides,
                     progress=not args.no_progress, jobs=None if args.jobs is None else _int("--jobs", args.jobs))
    return 0
