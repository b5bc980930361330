"""General data (`data.extra`) mixed into the rule-task mixture: rates, splits, chat rendering, resume, errors."""
import json

import numpy as np
import pytest
import seqio

import chat_families
from meta_rfft import shipped
from meta_rfft.data import example_codec, general_jsonl, general_task, general_tfds, pipeline, seqio_tasks
from meta_rfft.data.vocab import CharVocabulary, HfTokenizerVocabulary


@pytest.fixture(scope="module")
def char():
  return CharVocabulary()


def _write(path, objs):
  path.write_text("".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objs))
  return str(path)


def _pairs(n, tag):
  return [{"prompt": f"{tag} question {i}: what is {i} + {i}?", "response": f"{2 * i}", "id": i} for i in range(n)]


def _chats(n):
  return [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"Say {i}."},
                        {"role": "assistant", "content": f"{i}"}, {"role": "user", "content": f"Twice {i}?"},
                        {"role": "assistant", "content": f"{2 * i}"}]} for i in range(n)]


def _cfg(data_cfg, **kw):
  cfg = data_cfg.copy_and_resolve_references()
  cfg.update(kw)
  return cfg


def _segments(batch):
  """(tokens, loss weights) of every example in a batch: the row's inputs plus the last target."""
  out = []
  for r in range(batch["segment_ids"].shape[0]):
    seg = batch["segment_ids"][r]
    for s in sorted(set(seg.tolist()) - {0}):
      idx = np.flatnonzero(seg == s)
      out.append((list(batch["input_tokens"][r, idx]) + [int(batch["target_tokens"][r, idx[-1]])],
                  list(batch["loss_weights"][r, idx])))
  return out


def test_extra_files_join_the_mixture_with_capped_or_given_rates(data_cfg, char, tmp_path):
  a = _write(tmp_path / "Gsm-Like.jsonl", _pairs(20, "A"))
  b = _write(tmp_path / "arc.jsonl", _pairs(6, "B"))
  cfg = _cfg(data_cfg, extra=f"{a},{b}=2.5", mixing_cap=5, extra_validation=0.1)
  reg = seqio_tasks.register(cfg, char)
  name = general_task.with_extra(cfg, char, reg, seqio_tasks.mixture_name(cfg, reg))
  mix = seqio.get_mixture_or_task(name)
  rates = {t.name: mix.get_rate(t) for t in mix.tasks}
  base = seqio.get_mixture_or_task(seqio_tasks.rf_pretrain_mixture("rf"))
  assert all(base.get_rate(t) == 5 for t in base.tasks)  # every rule task has more than 5 train examples
  assert rates["meta_rfft.extra.gsm_like"] == 5 and rates["meta_rfft.extra.arc"] == 2.5
  # Train and validation split each file's lines between them, validation 10% (at least one line).
  for path, n, val in ((a, 20, 2), (b, 6, 1)):
    built = general_tfds.ensure_built(general_jsonl.parse_entries(path)[0], cfg)
    assert built.counts == {"train": n - val, "validation": val}
    lines = {s: sorted(int(e["seed"]) for e in general_tfds.read_split(str(built.path), s).as_numpy_iterator())
             for s in ("train", "validation")}
    assert sorted(lines["train"] + lines["validation"]) == list(range(1, n + 1))


def test_extra_examples_are_trained_as_prompt_and_answer(data_cfg, char, tmp_path):
  a = _write(tmp_path / "pairs.jsonl", _pairs(12, "A"))
  cfg = _cfg(data_cfg, extra=f"{a}=1000", mixture="lc_258", pack=False)
  it = pipeline.make_batch_iterator(cfg, char, seq_len=4096, host_batch_size=8, seed=3)
  codec = example_codec.codec_of(cfg, char)
  want = {tuple(sum(codec.pair_ids(o["prompt"], o["response"]), [])): len(codec.prompt_ids(o["prompt"]))
          for o in _pairs(12, "A")}
  seen = 0
  for _ in range(3):
    for tokens, weights in _segments(next(it)):
      if tuple(tokens) in want:
        seen += 1
        n_prompt = want[tuple(tokens)]
        assert weights == [0.0] * (n_prompt - 1) + [1.0] * (len(tokens) - n_prompt)
  assert seen >= 12  # the file outweighs the task 1000 to 3, so nearly every row is one of its examples


def test_chats_render_through_the_template_and_plain_prompts_refuse_them(data_cfg, char, tmp_path):
  path = _write(tmp_path / "chats.jsonl", _pairs(2, "P") + _chats(5))
  with pytest.raises(ValueError, match=rf"{path}:3: a chat with a system message or several turns needs a chat"):
    pipeline.make_batch_iterator(_cfg(data_cfg, extra=path), char, seq_len=4096, host_batch_size=1)
  vocab = HfTokenizerVocabulary(chat_families.build("llama3", tmp_path / "llama3"))
  cfg = _cfg(data_cfg, extra=path, mixture="lc_258", pack=False, extra_validation=0.0, chat_template="hf")
  codec = example_codec.codec_of(cfg, vocab)
  records, _ = general_jsonl.read_records(path)
  want = {tuple(sum(codec.chat_ids(json.loads(r.context_json()), r.response), [])) for r in records}
  rows = pipeline.make_batch_iterator(cfg, vocab, seq_len=4096, host_batch_size=64, num_epochs=1, shuffle=False,
                                      split="train")
  got = {tuple(tokens) for b in rows for tokens, _ in _segments(b)}
  assert want <= got


def test_resume_with_extra_chats_continues_exactly(data_cfg, tmp_path):
  a = _write(tmp_path / "resume.jsonl", _chats(30))
  vocab = HfTokenizerVocabulary(chat_families.build("llama3", tmp_path / "llama3"))
  cfg = _cfg(data_cfg, extra=f"{a}=10", mixture="lc_258,bbh_navigate", chat_template="hf", extra_validation=0.0)
  codec = example_codec.codec_of(cfg, vocab)
  records, _ = general_jsonl.read_records(a)
  chats = {tuple(sum(codec.chat_ids(json.loads(r.context_json()), r.response), [])) for r in records}
  make = lambda: pipeline.make_batch_iterator(cfg, vocab, seq_len=4096, host_batch_size=2, seed=1)  # noqa: E731
  it = make()
  for _ in range(2):
    next(it)
  it.save(tmp_path / "state")
  expected = [next(it) for _ in range(3)]
  assert any(tuple(t) in chats for b in expected for t, _ in _segments(b))  # the compared batches hold chats
  again = make()
  again.restore(tmp_path / "state")
  for want in expected:
    got = next(again)
    assert all(np.array_equal(got[k], want[k]) for k in want)
  # A state restores only into the stream it was saved from: here, another system prompt.
  other = pipeline.make_batch_iterator(_cfg(cfg, system_prompt="Be brief."), vocab, seq_len=4096, host_batch_size=2,
                                       seed=1)
  with pytest.raises(ValueError, match=r"saved from the stream .* restoring into"):
    other.restore(tmp_path / "state")
  # Nor into an edited file's stream, though its task name and explicit rate are the same.
  _write(tmp_path / "resume.jsonl", _chats(31))
  with pytest.raises(ValueError, match=r"saved from the stream .* restoring into"):
    make().restore(tmp_path / "state")


def test_every_assistant_turn_is_trained_once_with_loss_on_it_alone(data_cfg, tmp_path):
  greeting = {"messages": [{"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Say 7."},
                           {"role": "assistant", "content": "7"}]}
  path = _write(tmp_path / "turns.jsonl", _chats(4) + [greeting])
  every, _ = general_jsonl.read_records(path)
  assert [(r.line, r.turn, len(r.context)) for r in every] == (
      [(line, t, n) for line in range(1, 5) for t, n in ((0, 2), (1, 4))] + [(5, 0, 2)])
  last, _ = general_jsonl.read_records(path, "last")
  assert [(r.line, r.turn, len(r.context)) for r in last] == [(line, 0, 4) for line in range(1, 5)] + [(5, 0, 2)]
  with pytest.raises(ValueError, match=r"data.extra_turns must be one of \('all', 'last'\), got 'first'"):
    general_tfds.ensure_built(general_jsonl.parse_entries(path)[0], _cfg(data_cfg, extra_turns="first"))

  vocab = HfTokenizerVocabulary(chat_families.build("llama3", tmp_path / "llama3"))
  cfg = _cfg(data_cfg, extra=f"{path}=1000", mixture="lc_258", pack=False, extra_validation=0.0,
             chat_template="hf")
  codec = example_codec.codec_of(cfg, vocab)
  want = set()
  for r in every:
    prompt, response = codec.chat_ids(json.loads(r.context_json()), r.response)
    want.add((tuple(prompt + response), (0.0,) * (len(prompt) - 1) + (1.0,) * len(response)))
  rows = pipeline.make_batch_iterator(cfg, vocab, seq_len=4096, host_batch_size=64, num_epochs=1, shuffle=False,
                                      split="train")
  got = {(tuple(t), tuple(w)) for b in rows for t, w in _segments(b)}
  assert want <= got  # each turn an example of its own, with loss on its assistant turn only
  weights = dict(want)
  assert all(w == weights[t] for t, w in got if t in weights)  # and never with other weights

  # A line's turns stay in one split.
  built = general_tfds.ensure_built(general_jsonl.parse_entries(path)[0], _cfg(data_cfg, extra_validation=0.4))
  split = {s: sorted((int(e["seed"]), int(e["turn"])) for e in general_tfds.read_split(str(built.path), s)
                     .as_numpy_iterator()) for s in ("train", "validation")}
  assert len({line for line, _ in split["validation"]}) == 2
  assert sorted(split["train"] + split["validation"]) == [(r.line, r.turn) for r in every]
  assert not {line for line, _ in split["train"]} & {line for line, _ in split["validation"]}


@pytest.mark.parametrize("lines, line, message", [
    ([{"prompt": "a", "response": "b"}, {"prompt": "c", "response": "d"}, "{not json"], 3, "not valid JSON"),
    ([{"prompt": "a"}], 1, "missing 'response'"),
    ([{"prompt": "a", "response": "b"}, {"messages": [{"role": "user", "content": "hi"}]}], 2,
     "the last message must be the assistant's"),
    ([{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}], 1,
     r"messages\[0\].role must be one of"),
    ([{"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}], "prompt": "z"}], 1,
     "has both 'messages' and 'prompt'"),
])
def test_a_bad_line_is_named_and_nothing_is_written(data_cfg, char, tmp_path, lines, line, message):
  path = _write(tmp_path / "bad.jsonl", lines)
  cfg = _cfg(data_cfg, extra=path, data_dir=str(tmp_path / "fresh_data_dir"))
  with pytest.raises(ValueError, match=rf"{path}:{line}: {message}"):
    general_tfds.ensure_built(general_jsonl.parse_entries(path)[0], cfg)
  assert not (tmp_path / "fresh_data_dir").exists()


def test_bad_entries_are_named(tmp_path):
  a = _write(tmp_path / "a.jsonl", _pairs(2, "A"))
  (tmp_path / "other").mkdir()
  same = _write(tmp_path / "other" / "a.jsonl", _pairs(2, "A"))
  with pytest.raises(ValueError, match=r"data.extra: file .*missing.jsonl' does not exist"):
    general_jsonl.parse_entries(str(tmp_path / "missing.jsonl"))
  with pytest.raises(ValueError, match=r"data.extra: '.*a.jsonl=x' is neither an existing file nor PATH=RATE "
                                       r"\('x' after its last '=' is not a number\)"):
    general_jsonl.parse_entries(f"{a}=x")
  for rate in ("nan", "inf", "-inf", "0", "-1"):  # each would drop (or swamp) the file without a word
    with pytest.raises(ValueError, match=rf"data.extra entry '.*a.jsonl={rate}': rate '{rate}' must be a finite"):
      general_jsonl.parse_entries(f"{a}={rate}")
  # A file whose name holds '=' is named whole; with a rate after it, split at the last '='.
  eq = _write(tmp_path / "x=1.jsonl", _pairs(2, "E"))
  assert [(e.path, e.rate) for e in general_jsonl.parse_entries(eq)] == [(eq, None)]
  assert [(e.path, e.rate) for e in general_jsonl.parse_entries(f"{eq}=3")] == [(eq, 3.0)]
  for value, message in (("lc_258=nan", "data.mixing_rates: task 'lc_258': rate 'nan' must be a finite"),
                         ("lc_258=0", "data.mixing_rates: task 'lc_258': rate '0' must be a finite")):
    with pytest.raises(ValueError, match=message):
      seqio_tasks.parse_rates(value)
  with pytest.raises(ValueError, match=r"data.mixing_cap \(0 = no cap\): rate nan must be a finite"):
    seqio_tasks.mixing_cap({"mixing_cap": float("nan")})
  assert seqio_tasks.mixing_cap({"mixing_cap": 0}) == 0.0
  with pytest.raises(ValueError, match=r"both give the task name 'a'"):
    general_jsonl.parse_entries(f"{a},{same}")
  (tmp_path / "empty.jsonl").write_text("\n")
  with pytest.raises(ValueError, match=r"empty.jsonl: no examples"):
    general_jsonl.read_records(str(tmp_path / "empty.jsonl"))


def test_the_build_entry_point_builds_extra_files_too(tmp_path, capsys):
  from meta_rfft.data.__main__ import main
  from meta_rfft.tasks import registry
  a = _write(tmp_path / "ahead.jsonl", _pairs(10, "H"))
  args = [f"--config={shipped.REPO_ROOT / 'configs' / 'data.py'}:small", f"--config.data.data_dir={tmp_path}",
          "--config.data.build.tasks=nupa_length_integer", f"--config.data.extra={a}",
          "--config.data.extra_validation=0.2"]
  assert main(args) == 0
  assert f"({a}): train 8, validation 2 examples" in capsys.readouterr().out
  bad = _write(tmp_path / "bad_ahead.jsonl", _pairs(1, "H") + ["[1, 2]"])
  assert main(args[:-2] + [f"--config.data.extra={bad}"]) == 2
  assert f"{bad}:2: expected a JSON object" in capsys.readouterr().err
