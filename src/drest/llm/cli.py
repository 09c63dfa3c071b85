"""`drest llm ...`: datasets, evaluation, DReST-RLOO training, the study and a CPU demo.
Argument parsing and printing only; torch is imported inside handlers."""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, fields
from pathlib import Path

from ..errors import DrestError
from ..io import check_out_dir


def add_commands(subparsers) -> None:
    """Register ``drest llm`` and its subcommands."""
    llm = subparsers.add_parser("llm", help="language models: datasets, option-probability eval, DReST fine-tuning",
                                description="Language-model experiments: POST/Neutrality datasets, option-probability "
                                            "and sampled evaluation, DReST-RLOO fine-tuning with LoRA, and the "
                                            "authors' study (arms x seeds, statistics).")
    sub = llm.add_subparsers(dest="llm_command", metavar="SUBCOMMAND")
    llm.set_defaults(func=lambda args: (llm.print_help(), 0)[1])

    p = sub.add_parser("datasets", help="write our generated datasets as JSONL")
    p.add_argument("--out", required=True, help="directory for <name>.jsonl files")
    p.add_argument("--style", choices=("letter", "final-line", "all"), default="all",
                   help="letter: Final Answer: [x] prompts; final-line: the newer study's suites (test/, "
                        "validation/, test_low_gain/, train/)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_datasets)

    p = sub.add_parser("eval", help="POST/Neutrality measures of a model: option probabilities or sampled answers")
    p.add_argument("--model", required=True, help="Hugging Face model directory, .gguf file or Hub id")
    p.add_argument("--dataset", nargs="+", required=True, metavar="NAME_OR_PATH",
                   help="dataset names (test/post, test/main, test/dominance, ..., test_low_gain/main, "
                        "validation/..., or the letter style post-test, neutrality-test, control-...) or JSONL "
                        "paths of either study's layout")
    p.add_argument("--mode", choices=("logprob", "sample"), default="logprob",
                   help="logprob: option probabilities (one forward pass); sample: N answers per prompt, "
                        "decisions read from the final line")
    p.add_argument("--adapter", help="LoRA adapter directory written by `drest llm train`")
    p.add_argument("--limit", type=int, help="use only the first N prompts of each dataset")
    p.add_argument("--out", help="directory for per-prompt rows or samples and metrics.json")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass / generate call")
    p.add_argument("--answers", type=int, default=8, help="sample mode: answers per prompt")
    p.add_argument("--temperature", type=float, default=1.0, help="sample mode: sampling temperature")
    p.add_argument("--max-new-tokens", type=int, default=320, help="sample mode: the answer cap in tokens")
    p.add_argument("--backend", choices=("transformers", "vllm"), default="transformers",
                   help="sample mode: generation backend (vllm must be installed)")
    _common(p)
    p.set_defaults(func=_eval)

    p = sub.add_parser("train", help="DReST-RLOO fine-tuning with LoRA (QLoRA on a CUDA GPU)")
    p.add_argument("--model", required=True, help="Hugging Face model directory, .gguf file or Hub id")
    p.add_argument("--out", required=True, help="run directory: checkpoints, log.jsonl, adapter/")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    _train_options(p)
    _common(p)
    p.set_defaults(func=_train)

    p = sub.add_parser("study", help="the authors' newer study: untrained, default and DReST arms over seeds, "
                                     "every suite, statistics (resumable)")
    p.add_argument("--model", required=True, help="Hugging Face model directory, .gguf file or Hub id")
    p.add_argument("--out", required=True, help="study directory: plan.json, runs/, eval/, study.json, summary.md")
    p.add_argument("--seeds", type=int, default=5, help="seeds per arm (default 5)")
    p.add_argument("--arms", default="untrained,default,drest", help="comma-separated subset of "
                                                                      "untrained,default,drest")
    p.add_argument("--lr-search", help="learning rates to choose from on the validation split (the authors' "
                                       "rule), e.g. 2e-5,5e-5,1e-4; the study then trains at the chosen one")
    p.add_argument("--lr", type=float, default=2e-5, help="learning rate without --lr-search (default 2e-5)")
    p.add_argument("--train-prompts", type=int, help="training prompts per run (default: one pass, 2,048)")
    p.add_argument("--train-dataset", default="train/post",
                   help="training prompts (default train/post: the study's final-line POST prompts)")
    p.add_argument("--trainer-mode", choices=("exact", "sample"), default="exact",
                   help="exact: one-token answers after 'Final Answer: [' (CPU-friendly); sample: free-form answers")
    p.add_argument("--meta-episode", type=int, default=32, help="answers per training prompt (default 32)")
    p.add_argument("--micro-batch", type=int, default=8, help="answers per forward/backward pass (default 8)")
    p.add_argument("--warmup-steps", type=int, default=16, help="optimiser steps of warm-up (default 16)")
    p.add_argument("--max-completion-tokens", type=int, default=320, help="trainer sample mode: answer cap")
    p.add_argument("--eval-mode", choices=("sample", "logprob"), default="sample",
                   help="sample: N answers per prompt, final line read; logprob: allowed-line probabilities")
    p.add_argument("--scenarios-per-suite", type=int,
                   help="first N scenarios of each suite (two option orders each; default: all)")
    p.add_argument("--answers", type=int, default=8, help="sample mode: answers per prompt (default 8)")
    p.add_argument("--max-new-tokens", type=int, default=320, help="sample mode: answer cap in tokens (default 320)")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per generate call / forward pass")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_study)

    p = sub.add_parser("demo", help="CPU demo: evaluate, fine-tune briefly with DReST (exact mode), evaluate again")
    p.add_argument("--model", help="default: the packaged SmolLM2-135M-Instruct GGUF")
    p.add_argument("--out", default="results/llm/demo", help="directory for demo.json, rows and the adapter")
    p.add_argument("--train-prompts", type=int, default=160, help="training prompts (from post-train)")
    p.add_argument("--prompts-per-step", type=int, default=4, help="prompts per optimiser step")
    p.add_argument("--lr", type=float, default=5e-4, help="higher than the paper's 5e-6: a short run on a tiny model")
    p.add_argument("--eval-post", type=int, default=80, help="POST test prompts scored before and after")
    p.add_argument("--eval-neutrality", type=int, default=80, help="Neutrality test prompts scored before and after")
    p.add_argument("--batch-size", type=int, default=8, help="prompts per forward pass when scoring")
    p.add_argument("--trainer", choices=("trl", "loop"), default="trl", help="TRL's RLOOTrainer or drest's loop")
    _common(p)
    p.set_defaults(func=_demo)


def _common(p) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _train_options(p) -> None:
    from . import config as c

    for f in fields(c.TrainConfig):
        if f.name in ("model", "out", "seed"):
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = {"max_prompts": int, "group_size": int}.get(f.name, type(f.default))
        help_text = c.HELP.get(f.name, "")
        if kind is bool:
            p.add_argument(flag, action="store_true", help=help_text)
            continue
        p.add_argument(flag, type=kind, default=f.default, choices=c.CHOICES.get(f.name),
                       help=f"{help_text} (default {f.default})".lstrip())


def _check_threads(args) -> None:
    if args.threads is not None and args.threads < 1:
        raise DrestError(f"threads: must be at least 1, got {args.threads}")


def _setup(args) -> None:
    import torch

    _check_threads(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)


def _datasets(args) -> int:
    from .datasets import write_all

    styles = ("letter", "final-line") if args.style == "all" else (args.style,)
    counts = write_all(check_out_dir(args.out), args.seed, styles)
    for name, n in counts.items():
        print(f"{name:24s} {n:5d} prompts -> {Path(args.out) / (name + '.jsonl')}")
    return 0


def _format_summary(summary: dict) -> str:
    def num(x) -> str:  # a metric computed from NaN (a diverged adapter) is never shown as a number
        return f"{x:.3f}" if x is not None and math.isfinite(x) else "n/a"

    lines = []
    for ptype, s in summary.items():
        if "neutrality" in s:
            body = f"NEUTRALITY {num(s['neutrality'])}  USEFULNESS {num(s['usefulness'])}  P(long) {num(s['p_long'])}"
        else:
            body = (f"mean P(influence) {num(s['mean_p_influence'])}  "
                    f"share influence most likely {num(s['share_influence_most_likely'])}")
        lines.append(f"  {ptype:26s} n={s['n']:<4d} {body}  label mass {num(s['label_mass'])}")
    return "\n".join(lines)


def _score_sets(model, tokenizer, names, limit, args, out: Path | None, tag: str = "") -> dict:
    from . import datasets, scoring

    results = {}
    for name in names:
        records = datasets.load(name, args.seed)[: limit or None]
        rows = scoring.score(model, tokenizer, records, args.batch_size, progress=not args.quiet)
        results[name] = scoring.summarize(rows)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            with (out / f"{Path(name).stem}{tag}.rows.jsonl").open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row) + "\n")
        print(f"{name}{' ' + tag.strip('.') if tag else ''}:\n{_format_summary(results[name])}")
    return results


def _eval(args) -> int:
    from . import datasets, evaluate, measures, models
    from .sampling import SampleSettings, vllm_available

    if args.limit is not None and args.limit < 1:
        raise DrestError(f"limit: must be at least 1, got {args.limit}")
    if args.batch_size < 1:
        raise DrestError(f"batch-size: must be at least 1, got {args.batch_size}")
    _check_threads(args)
    settings = SampleSettings(answers=args.answers, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                              batch_size=args.batch_size, seed=args.seed).validate()
    if args.backend == "vllm" and (args.mode != "sample" or not vllm_available()):
        raise DrestError("backend: vllm needs --mode sample and the vllm package; use --backend transformers")
    # fail on bad datasets or an unwritable --out before spending time loading the model
    tags = evaluate.output_tags(args.dataset)
    sets = [(tag, name, datasets.load(name, args.seed)[: args.limit or None]) for tag, name in zip(tags, args.dataset)]
    out = evaluate.check_out_dir(args.out) if args.out else None
    _setup(args)
    if args.backend == "vllm":
        from transformers import AutoTokenizer

        model, tokenizer = None, AutoTokenizer.from_pretrained(models.resolve(args.model)[0])
    else:
        model, tokenizer = models.load(args.model, adapter=args.adapter)
    results = {}
    for tag, name, recs in sets:
        if args.mode == "sample":
            rows, summary = evaluate.sampled(model, tokenizer, recs, settings, backend=args.backend,
                                             model_path=args.model, adapter=args.adapter, progress=not args.quiet)
            if out is not None:
                for suite in summary:
                    evaluate.write_jsonl(out / tag / f"{suite}.samples.jsonl",
                                         [r for r in rows if r["suite"] == suite])
        else:
            rows, summary = evaluate.logprob(model, tokenizer, recs, args.batch_size, progress=not args.quiet)
            if out is not None:
                evaluate.write_jsonl(out / f"{tag}.rows.jsonl", rows)
        results[tag] = summary
        print(f"{name} ({args.mode}):")
        for suite, m in summary.items():
            print(measures.format_measures(suite, m))
    if out is not None:
        meta = {"command": "drest llm eval", "model": args.model, "adapter": args.adapter, "mode": args.mode,
                "datasets": {tag: name for tag, name, _ in sets}, "limit": args.limit, "seed": args.seed}
        if args.mode == "sample":
            meta.update(answers=args.answers, temperature=args.temperature, max_new_tokens=args.max_new_tokens,
                        backend=args.backend, batch_size=args.batch_size)
        evaluate.write_metrics(out, meta, results)
    return 0


def _train_config(args, **overrides):
    from .config import TrainConfig

    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    values.update(overrides)
    return TrainConfig(**values).validate()


def _trainer(config):
    if config.trainer == "loop":
        from .loop import train
    else:
        from .trl_trainer import train
    return train


def _train(args) -> int:
    from . import datasets, models
    from .trl_trainer import check_settings

    config = _train_config(args)
    # everything that can be checked without the model, before loading it
    _check_threads(args)
    check_out_dir(config.out)
    models.resolve(config.model)
    datasets.load(config.dataset, config.seed)
    check_settings(config, models.load_tokenizer(config.model))
    _setup(args)
    model, tokenizer = models.load(config.model, quantize=config.quantize)
    _, summary = _trainer(config)(config, model, tokenizer, resume=args.resume, progress=not args.quiet)
    print(json.dumps(summary, indent=2, allow_nan=False))
    print(f"adapter: {Path(config.out) / 'adapter'}")
    return 0


def _study(args) -> int:
    from . import study

    settings = study.StudySettings(
        model=args.model, seeds=args.seeds, arms=study.parse_arms(args.arms),
        lr_search=study.parse_lrs(args.lr_search) if args.lr_search is not None else (), lr=args.lr,
        train_prompts=args.train_prompts, train_dataset=args.train_dataset, trainer_mode=args.trainer_mode,
        meta_episode=args.meta_episode, micro_batch=args.micro_batch, warmup_steps=args.warmup_steps,
        max_completion_tokens=args.max_completion_tokens, eval_mode=args.eval_mode,
        scenarios_per_suite=args.scenarios_per_suite, answers=args.answers, max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size).validate()
    _check_threads(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    result = study.run(settings, args.out, progress=not args.quiet)
    command = study.command_line(settings, args.out, args.threads)
    study.write_outputs(args.out, result, command)
    print(study.summary_markdown(dict(result, command=command), command))
    print(f"wrote {Path(args.out) / 'summary.md'} and {Path(args.out) / 'study.json'}")
    return 0


def _demo(args) -> int:
    from . import models

    started = time.time()
    model_spec = args.model or models.packaged_smollm2()
    out = Path(args.out)
    # the first demo's settings (results/llm/README.md), so both trainers are compared like for like
    config = _train_config(argparse.Namespace(), model=model_spec, out=str(out / "run"), mode="exact",
                           trainer=args.trainer, lr=args.lr, max_prompts=args.train_prompts,
                           prompts_per_step=args.prompts_per_step, micro_batch=32 * args.prompts_per_step,
                           lora_r=16, lora_alpha=16, lora_dropout=0.1, kl_coef=0.0, warmup_steps=0,
                           quantize="none", checkpoint_every=max(args.train_prompts // 4, 1), seed=args.seed)
    _setup(args)
    model, tokenizer = models.load(model_spec)
    sets = {"post-test": args.eval_post, "neutrality-test": args.eval_neutrality}
    before = {name: _score_sets(model, tokenizer, [name], n, args, out, ".before")[name] for name, n in sets.items()}
    t_train = time.time()
    model, train_summary = _trainer(config)(config, model, tokenizer, resume=False, progress=not args.quiet)
    train_seconds = time.time() - t_train
    after = {name: _score_sets(model, tokenizer, [name], n, args, out, ".after")[name] for name, n in sets.items()}
    post_b, post_a = before["post-test"]["deterministic"], after["post-test"]["deterministic"]
    neu_b, neu_a = before["neutrality-test"]["stochastic_main"], after["neutrality-test"]["stochastic_main"]
    report = {
        "model": model_spec, "settings": {**asdict(config), "eval_post": args.eval_post,
                                          "eval_neutrality": args.eval_neutrality, "threads": args.threads},
        "before": before, "after": after, "train": train_summary,
        "train_seconds": round(train_seconds, 1), "wall_seconds": round(time.time() - started, 1),
    }
    (out / "demo.json").write_text(json.dumps(report, indent=2))
    print("\n                         before   after")
    print(f"POST NEUTRALITY (bits)   {post_b['neutrality']:.3f}    {post_a['neutrality']:.3f}")
    print(f"POST USEFULNESS          {post_b['usefulness']:.3f}    {post_a['usefulness']:.3f}")
    print(f"mean P(influence)        {neu_b['mean_p_influence']:.3f}    {neu_a['mean_p_influence']:.3f}")
    print(f"share influence likeliest {neu_b['share_influence_most_likely']:.3f}   "
          f"{neu_a['share_influence_most_likely']:.3f}")
    print(f"wall time {report['wall_seconds']:.0f} s (training {train_seconds:.0f} s); wrote {out / 'demo.json'}")
    return 0
