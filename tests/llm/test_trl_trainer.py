"""The TRL trainer: rewards on whole groups across two real processes, kill and
resume, sample-mode reading/truncation, the health check and one-line errors."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from drest.cli import main
from drest.llm import datasets, models, rewards
from drest.llm.config import TrainConfig

torch = pytest.importorskip("torch")  # the llm extra (a failure in CI, see tests/conftest.py)

pytestmark = pytest.mark.slow
RUN = str(Path(__file__).with_name("trl_run.py"))
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _run(cmd, check=True):
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _rows(out: Path):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _settings(out: Path) -> TrainConfig:
    return TrainConfig(**json.loads((out / "config.json").read_text()))


@pytest.fixture(scope="module")
def smollm2_path():
    try:
        return models.packaged_smollm2()
    except Exception as exc:
        pytest.skip(f"SmolLM2 not available: {exc}")


def test_two_processes_reward_whole_meta_episodes_and_stay_in_sync(smollm2_path, tmp_path):
    out = tmp_path / "ddp"
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    _run([torchrun, "--nproc_per_node", "2", "--master_port", "29517", RUN, str(out), "--mode", "exact",
          "--micro-batch", "2"])
    config = _settings(out)
    records = {r["id"]: r for r in datasets.load(config.dataset, config.seed)}
    rows = _rows(out)
    assert [r["prompts_done"] for r in rows] == [1, 2]
    spread = False
    for row in rows:
        # 8 answers split 4 + 4 over the ranks (2 micro-batches of 2 each); one process on the same answers:
        record, answers = records[row["id"]], row["answers"]
        assert len(answers) == 8
        expected_r, expected_adv = rewards.advantages(record, answers, config)
        np.testing.assert_allclose(row["rewards"], expected_r, rtol=0, atol=1e-6)
        np.testing.assert_allclose(row["advantages"], expected_adv, rtol=0, atol=1e-5)  # what the loss used
        spread |= np.ptp(expected_r) > 0
        # rewarding each rank's half alone (trl#3896) would have given other advantages
        halves = np.concatenate([rewards.advantages(record, answers[:4], config)[1],
                                 rewards.advantages(record, answers[4:], config)[1]])
        assert np.abs(halves - expected_adv).max() > 1e-3 or np.ptp(expected_r) == 0
    assert spread, "no meta-episode had a reward spread: the test would not see a wrong advantage"
    rank0, rank1 = torch.load(out / "rank0.pt"), torch.load(out / "rank1.pt")
    assert rank0.keys() == rank1.keys() and rank0
    for key in rank0:
        torch.testing.assert_close(rank0[key], rank1[key], rtol=0, atol=0)
    assert any(float(t.abs().max()) > 0 for k, t in rank0.items() if "lora_B" in k)  # training moved them


def test_killed_run_resumes_to_the_unbroken_adapter(tiny_model_dir, tmp_path):
    # the tiny model on final-line prompts (always readable, so the adapter moves)
    args = ["--max-prompts", "4", "--micro-batch", "8", "--model", str(tiny_model_dir), "--dataset", "train/post"]
    _run([sys.executable, RUN, str(tmp_path / "full")] + args)
    killed = _run([sys.executable, RUN, str(tmp_path / "broken"), "--kill-at", "3"] + args, check=False)
    assert killed.returncode == -9  # SIGKILL as step 3 began, after the checkpoint at step 2
    assert (tmp_path / "broken" / "checkpoint-2").is_dir() and not (tmp_path / "broken" / "adapter").exists()
    refused = _run([sys.executable, RUN, str(tmp_path / "broken")] + args, check=False)
    assert "already holds a run; pass --resume" in refused.stderr
    _run([sys.executable, RUN, str(tmp_path / "broken"), "--resume"] + args)
    full, resumed = torch.load(tmp_path / "full" / "rank0.pt"), torch.load(tmp_path / "broken" / "rank0.pt")
    assert full.keys() == resumed.keys()
    assert max(float(t.abs().max()) for k, t in full.items() if "lora_B" in k) > 1e-3  # it trained
    for key in full:
        torch.testing.assert_close(full[key], resumed[key])
    assert _rows(tmp_path / "full") == _rows(tmp_path / "broken")
    summary = json.loads((tmp_path / "broken" / "train_summary.json").read_text())
    assert summary["steps"] == 4 and summary["prompts"] == 4


def _texts_to_ids(tokenizer, texts, eos: bool):
    return [tokenizer(t, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
            for t in texts]


@pytest.mark.parametrize("truncated", ["mask", "penalise"])
def test_sample_mode_reads_answers_and_handles_truncation(tiny_model_dir, tmp_path, monkeypatch, truncated):
    from drest.llm import trl_trainer

    model, tokenizer = models.load(str(tiny_model_dir))
    # cut off at the cap (no end-of-sequence token) just after a readable final line
    cut = tokenizer("I weigh both lengths and both deliverables, one after the other.\nFinal Answer: [b]",
                    add_special_tokens=False)["input_ids"]
    cap = len(cut)
    finished = _texts_to_ids(tokenizer, ["Final Answer: [a]", "I compare the options.\nFinal Answer: [ C ]", "(d)"],
                             eos=True)
    assert max(map(len, finished)) < cap
    fixed = finished + [cut]  # answers a, c, unreadable, b (cut off at the cap)

    def fake_generate(self, prompt_ids, images, multimodal_fields):
        return [fixed[i % 4] for i in range(len(prompt_ids))]

    monkeypatch.setattr(trl_trainer.trainer_class(), "_generate_single_turn", fake_generate)
    config = TrainConfig(model=str(tiny_model_dir), out=str(tmp_path / truncated), mode="sample", meta_episode=4,
                         micro_batch=4, max_prompts=1, max_completion_tokens=cap, truncated=truncated, kl_coef=0.0,
                         warmup_steps=0, health_window=0, quantize="none")
    trl_trainer.train(config, model, tokenizer, progress=False)
    (row,) = _rows(tmp_path / truncated)
    expected = ["a", "c", None, "b" if truncated == "mask" else None]
    assert row["answers"] == expected and row["truncated"] == 1
    record = {r["id"]: r for r in datasets.load("post-train", 0)}[row["id"]]
    r, adv = rewards.advantages(record, expected, config)
    np.testing.assert_allclose(row["rewards"], r, atol=1e-6)
    np.testing.assert_allclose(row["advantages"], adv, atol=1e-5)


@pytest.mark.parametrize("kl_coef", [0.0, 0.05])
def test_sample_mode_training_pass_shares_the_prompt_and_trains_trls_adapter(tiny_model_dir, tmp_path, monkeypatch,
                                                                               kl_coef):
    """Sample mode's log-probability passes encode each prompt once per micro-batch
    (drest.llm.shared_prompt), skip TRL's old-logps pass when it can only make a ratio of 1
    (no KL term, one update per batch), and train the adapter TRL's own passes train."""
    from trl import RLOOTrainer

    from drest.llm import shared_prompt, trl_trainer

    cls = trl_trainer.trainer_class()
    _, tokenizer = models.load(str(tiny_model_dir))
    answers = _texts_to_ids(tokenizer, ["Final Answer: [a]", "I compare them.\nFinal Answer: [ C ]",
                                        "Final Answer: [b]", "no idea"], eos=True)
    monkeypatch.setattr(cls, "_generate_single_turn", lambda self, ids, *_: [answers[i % 4] for i in range(len(ids))])

    def trls_own(self, model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy):
        return RLOOTrainer._get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                                              batch_size, compute_entropy)

    def run(name, ours):
        model, _ = models.load(str(tiny_model_dir))
        calls = []
        config = TrainConfig(model=str(tiny_model_dir), out=str(tmp_path / name), mode="sample", meta_episode=4,
                             micro_batch=2, max_prompts=2, lr=1e-2, kl_coef=kl_coef, warmup_steps=0, health_window=0,
                             lora_dropout=0.0, max_completion_tokens=16, quantize="none")
        with monkeypatch.context() as m:
            m.setattr(shared_prompt, "token_logprobs",
                      lambda *a, **k: calls.append(a[1].shape[0]) or TOKEN_LOGPROBS(*a, **k))
            if not ours:
                m.setattr(cls, "_shared_prompt_logps", trls_own)
            peft_model, _ = trl_trainer.train(config, model, tokenizer, progress=False)
        return {k: v.detach().clone() for k, v in peft_model.state_dict().items() if "lora_" in k}, calls

    TOKEN_LOGPROBS = shared_prompt.token_logprobs
    ours, calls = run(f"shared{kl_coef}", True)
    # per step, in micro-batches of 2: with a KL term the old and the reference passes over the
    # 4 answers, then the two loss passes; without, the loss passes only
    assert calls == ([2, 2, 2, 2, 2, 2] if kl_coef else [2, 2]) * 2
    theirs, none = run(f"trl{kl_coef}", False)
    assert none == []
    assert max(float(t.abs().max()) for k, t in ours.items() if "lora_B" in k) > 1e-3  # it learned
    for key in ours:
        gap = float((ours[key] - theirs[key]).norm() / theirs[key].norm())
        assert gap < 1e-3, (key, gap)


def test_sample_mode_generates_from_the_shared_prompt(tiny_model_dir, tmp_path, monkeypatch):
    """Real sampling on the TRL path: one shared-prompt generate call per generation batch,
    answers cut at the cap or after their first end token."""
    from drest.llm import shared_prompt, trl_trainer

    model, tokenizer = models.load(str(tiny_model_dir))
    real, seen = shared_prompt.generate, []

    def spy(model, ids, mask, config):
        out = real(model, ids, mask, config)
        seen.append((ids.shape[0], out.tolist()))
        return out

    monkeypatch.setattr(shared_prompt, "generate", spy)
    config = TrainConfig(model=str(tiny_model_dir), out=str(tmp_path / "s"), mode="sample", meta_episode=4,
                         micro_batch=4, max_prompts=2, kl_coef=0.0, warmup_steps=0, health_window=0,
                         max_completion_tokens=8, quantize="none")
    trl_trainer.train(config, model, tokenizer, progress=False)
    assert [n for n, _ in seen] == [4, 4]
    rows = _rows(tmp_path / "s")
    assert len(rows) == 2 and all(len(r["answers"]) == 4 for r in rows)
    eos = tokenizer.eos_token_id
    for _, gen in seen:
        for row in gen:
            assert len(row) <= 8
            if eos in row:  # after the end token only padding
                assert all(t == tokenizer.pad_token_id for t in row[row.index(eos) + 1:])


def test_exact_mode_on_final_line_prompts_draws_whole_allowed_lines(tiny_model_dir, tmp_path, monkeypatch):
    # the newer study's training prompts (train/post): in exact mode an answer is one allowed
    # final line drawn from the lines' probabilities; make each prompt's second line near-certain
    from drest.llm import records as records_module, scoring, trl_trainer

    first = records_module.as_training_record(datasets.load("train/post", 0)[0])
    assert first["valid_answers"] == ["a", "b", "c", "d"] and first["max_scores_by_length"] == {"short": 6, "long": 7}
    assert (first["target_best_short_option"], first["target_best_long_option"]) == ("d", "b")
    calls = []

    def fake_logprobs(model, prompt_ids, conts, pad_id, temperature=1.0):  # one prompt's lines, in order
        calls.append(len(conts))
        return [[0.0 if j == 1 else -40.0] + [0.0] * (len(c) - 1) for j, c in enumerate(conts)]

    model, tokenizer = models.load(str(tiny_model_dir))
    monkeypatch.setattr(scoring, "continuation_token_logprobs", fake_logprobs)
    config = TrainConfig(model=str(tiny_model_dir), out=str(tmp_path / "fl"), dataset="train/post", meta_episode=4,
                         micro_batch=4, max_prompts=1, kl_coef=0.0, warmup_steps=0, health_window=0,
                         quantize="none")
    _, summary = trl_trainer.train(config, model, tokenizer, progress=False)
    (row,) = _rows(tmp_path / "fl")
    rows = datasets.load("train/post", config.seed)
    record = records_module.as_training_record(next(r for r in rows if r["display_id"] == row["id"]))
    second = list(record["allowed_final_lines"].values())[1]
    assert row["answers"] == [second] * 4 and calls == [len(record["valid_answers"])]
    r, adv = rewards.advantages(record, row["answers"], config)
    np.testing.assert_allclose(row["rewards"], r, atol=1e-6)
    np.testing.assert_allclose(row["advantages"], adv, atol=1e-6)
    assert summary["invalid_answers"] == 0


@pytest.mark.parametrize("dataset, kl_coef", [("post-train", 0.0), ("post-train", 0.05), ("train/post", 0.0)])
def test_exact_mode_serves_old_logps_from_the_sampled_distribution(tiny_model_dir, tmp_path, monkeypatch, dataset,
                                                                    kl_coef):
    """TRL's no-grad "old" pass is the distribution the answers were drawn from: serving it
    saves one forward pass per step and trains the same adapter (the KL reference pass,
    adapter off, is still run)."""
    from drest.llm import trl_trainer

    cls = trl_trainer.trainer_class()
    generate = cls._generate_single_turn

    def without_cache(self, *args):
        out = generate(self, *args)
        self._sampled = None
        return out

    def run(name, serve):
        model, tokenizer = models.load(str(tiny_model_dir))
        passes = []
        model.register_forward_hook(lambda *_: passes.append(1))
        config = TrainConfig(model=str(tiny_model_dir), out=str(tmp_path / name), dataset=dataset, meta_episode=4,
                             micro_batch=4, max_prompts=2, lr=1e-2, kl_coef=kl_coef, warmup_steps=0, health_window=0,
                             lora_dropout=0.0, quantize="none")
        with monkeypatch.context() as m:
            if not serve:
                m.setattr(cls, "_generate_single_turn", without_cache)
            peft_model, _ = trl_trainer.train(config, model, tokenizer, progress=False)
        return {k: v.detach().clone() for k, v in peft_model.state_dict().items() if "lora_" in k}, len(passes)

    served, n_served = run("served", True)
    computed, n_computed = run("computed", False)
    # one old-logps pass fewer in each of the 2 steps: one forward call on letter prompts, two
    # on final-line prompts (the shared prompt, then the lines after it)
    assert n_computed - n_served == 2 * (2 if dataset == "train/post" else 1)
    if dataset == "post-train":
        # the random model's answers are all unreadable here (zero advantages), so only the
        # passes are checked: sampling, (reference,) loss
        assert n_served == 2 * (3 if kl_coef else 2)
        return
    # final lines are always readable: the adapter moves, and the same way (the served values
    # come from the shared-prompt pass, equal to a full pass up to float32 rounding, which
    # Adam's normalised steps can enlarge in single near-zero entries: compare whole tensors)
    assert max(float(t.abs().max()) for k, t in served.items() if "lora_B" in k) > 1e-3
    for key in served:
        gap = float((served[key] - computed[key]).norm() / computed[key].norm())
        assert gap < 1e-3, (key, gap)


def test_the_loop_refuses_final_line_prompts(tiny_model_dir, tmp_path, capsys):
    code = main(["llm", "train", "--model", str(tiny_model_dir), "--out", str(tmp_path / "l"), "--trainer", "loop",
                 "--dataset", "train/post", "--kl-coef", "0", "--quantize", "none", "--quiet"])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        "drest: error: dataset: --trainer loop reads letter-style prompts (post-train); 'train/post' is in the "
        "final-line layout, which --trainer trl reads")


def test_health_check_stops_a_run_whose_answers_are_unreadable(tiny_model_dir, tmp_path, capsys):
    # a random two-layer model puts almost no probability on the labels: every exact answer is unreadable
    code = main(["llm", "train", "--model", str(tiny_model_dir), "--out", str(tmp_path / "h"), "--max-prompts", "4",
                 "--meta-episode", "4", "--micro-batch", "4", "--health-window", "2", "--quantize", "none", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("drest: error: training stopped: 100% of answers were unreadable over the last 2 "
                          "meta-episodes (step 1)")


def test_a_non_finite_loss_stops_the_run_before_the_update(tiny_model_dir, tmp_path, capsys, monkeypatch):
    from drest.llm import trl_trainer

    cls = trl_trainer.trainer_class()
    compute_loss = cls.compute_loss
    monkeypatch.setattr(cls, "compute_loss", lambda self, *a, **k: compute_loss(self, *a, **k) * float("nan"))
    out = tmp_path / "nan"
    code = main(["llm", "train", "--model", str(tiny_model_dir), "--out", str(out), "--max-prompts", "4",
                 "--meta-episode", "4", "--micro-batch", "4", "--health-window", "0", "--quantize", "none", "--quiet"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == ("drest: error: training stopped: the loss became non-finite at step 1; nothing was updated. "
                   "Lower --lr or check the reward settings")
    # nothing looks finished: no adapter, no summary, no checkpoint
    assert not (out / "adapter").exists() and not (out / "train_summary.json").exists()
    assert not list(out.glob("checkpoint-*"))


@pytest.mark.parametrize("extra,message", [
    (["--meta-episode", "1"], "meta-episode: needs at least 2 answers for a baseline, got 1"),
    (["--lam", "1.5"], "lam: must be strictly between 0 and 1, got 1.5"),
    (["--invalid-penalty", "nan"], "invalid penalty: must be a finite number, got nan"),
    (["--temperature", "inf"], "temperature: must be a finite number, got inf"),
    (["--mode", "sample", "--max-completion-tokens", "4"],
     "max completion tokens: 4 cannot hold 'Final Answer: [a]' (6 tokens with this tokenizer); use at least 6"),
])
def test_bad_settings_fail_in_one_line_before_the_model_loads(tiny_model_dir, tmp_path, capsys, monkeypatch,
                                                             extra, message):
    from drest.llm import models as models_module

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(models_module, "load", no_load)
    assert main(["llm", "train", "--model", str(tiny_model_dir), "--out", str(tmp_path / "r")] + extra) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"drest: error: {message}")


def test_missing_model_and_a_launch_that_splits_groups_fail_before_loading(tmp_path, capsys, monkeypatch):
    assert main(["llm", "train", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "drest: error: model: no such file or directory" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "3")  # as set by torchrun / accelerate launch on 3 processes
    assert main(["llm", "train", "--model", str(tmp_path), "--out", str(tmp_path / "r")]) == 2
    assert ("micro batch: 1 meta-episode(s) of 32 answers cannot be split into passes of 8 answers on each of 3 "
            "process(es)") in capsys.readouterr().err
