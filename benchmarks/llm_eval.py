"""Sampled evaluation speed: answers/s of SmolLM2-135M on CPU, batched vs one prompt at a time.

    python benchmarks/llm_eval.py [--prompts 8] [--answers 8] [--max-new-tokens 64] [--batch-size 8] [--threads 2]

Samples ``--answers`` answers to each of the first ``--prompts`` rows of ``test/main``
(drest's final-line style) with ``drest.llm.sampling.generate_transformers``, once with
``--batch-size`` prompts per generate call (each carrying ``--answers`` sequences) and
once with one prompt and one answer per call (the naive loop), and prints answers/s and
the ratio, measured side by side in one run. Answers are capped at ``--max-new-tokens``
(320 in the study; lower here so the naive loop finishes in minutes); a cap shortens
both runs alike, though the ratio grows with the cap's share of answers that run to it.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--answers", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8, help="prompts per generate call in the batched run")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch

    from drest.llm import datasets, models
    from drest.llm.sampling import SampleSettings, generate_transformers

    torch.set_num_threads(args.threads)
    model, tokenizer = models.load(models.packaged_smollm2())
    displays = datasets.generate("test/main")[: args.prompts]
    runs = {
        f"batched ({args.batch_size} prompts x {args.answers} answers per call)":
            SampleSettings(answers=args.answers, max_new_tokens=args.max_new_tokens, batch_size=args.batch_size),
        "one prompt, one answer per call":
            SampleSettings(answers=1, max_new_tokens=args.max_new_tokens, batch_size=1),
    }
    rate = {}
    for name, settings in runs.items():
        repeats = 1 if settings.answers == args.answers else args.answers  # same number of answers in both
        start = time.perf_counter()
        n = 0
        for r in range(repeats):
            out = generate_transformers(model, tokenizer, displays, SampleSettings(**{**settings.__dict__, "seed": r}),
                                        progress=False)
            n += sum(map(len, out))
        seconds = time.perf_counter() - start
        rate[name] = n / seconds
        print(f"{name:55s} {n:4d} answers in {seconds:7.1f} s = {rate[name]:6.2f} answers/s", flush=True)
    batched, single = rate.values()
    print(f"batched / one at a time: {batched / single:.1f}x  (torch threads {args.threads}, "
          f"cap {args.max_new_tokens} tokens, {torch.__version__})")


if __name__ == "__main__":
    main()
