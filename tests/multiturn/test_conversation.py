"""The conversation format (validation errors name the line and field), the generator and the CLI."""
import json

import pytest

from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.cli import main
from meta_rfft.multiturn.conversation import ConversationError, read_jsonl, write_jsonl
from meta_rfft.multiturn.tokenize import tokenize_conversation
from meta_rfft.tasks import formats, registry
from meta_rfft.tasks.answers import extract_answer


@pytest.mark.parametrize("line, message", [
    ('{"turns": [{"user": "q", "answer": 3}]}', r"bad.jsonl:2: turns\[0\].answer: must be a string"),
    ('{"turns": [{"user": "q", "reasoning": "r"}]}', r"bad.jsonl:2: turns\[0\].answer: missing"),
    ('{"turns": [{"user": "", "answer": "a"}]}', r"bad.jsonl:2: turns\[0\].user: must not be empty"),
    ('{"turns": [{"user": "q", "answer": "a", "think": "x"}]}', r"bad.jsonl:2: turns\[0\]: unknown fields"),
    ('{"turns": []}', r"bad.jsonl:2: 'turns' must be a non-empty list"),
    ('{"dialog": []}', r"bad.jsonl:2: unknown keys \['dialog'\]"),
    ('[1, 2]', r"bad.jsonl:2: expected a JSON object"),
    ('{"turns": [{"user": "q", "answer": "a"}', r"bad.jsonl:2: not valid JSON"),
])
def test_bad_lines_name_line_and_field(tmp_path, line, message):
  path = tmp_path / "bad.jsonl"
  path.write_text('{"turns": [{"user": "q", "reasoning": "", "answer": "a"}]}\n' + line + "\n")
  with pytest.raises(ConversationError, match=message):
    read_jsonl(path)


def test_round_trip_and_missing_reasoning_is_empty(tmp_path, conversations):
  path = tmp_path / "c.jsonl"
  assert write_jsonl(conversations, path) == len(conversations)
  assert read_jsonl(path) == conversations
  path.write_text('{"turns": [{"user": "q", "answer": "a"}]}\n')
  assert read_jsonl(path)[0].turns[0].reasoning == ""


def test_generated_conversations_state_the_rule_once(conversations):
  task = registry.get_task("lc_258")
  rule = formats.rule_text(task)
  for conv in conversations:
    header = rule if conv.meta["format"] == "rf" else formats.DIRECT_INSTRUCTION
    for i, turn in enumerate(conv.turns):
      assert (header in turn.user) == (i == 0)
      assert turn.user.rstrip().endswith("A:")
      assert turn.answer.startswith("So the answer is ")
      # The answer is the rule's own result on the question's instance, and the trace leads up to it.
      assert extract_answer(turn.reasoning + turn.answer) == turn.answer[len("So the answer is "):]
      assert (turn.reasoning == "") == (conv.meta["format"] == "direct")
  assert {len(c.turns) for c in conversations} >= {1, 2, 3}


def test_tokenized_layout_lengths(conversations, encoder):
  for conv in conversations:
    turns = tokenize_conversation(conv, encoder[0])
    assert turns[0].user[0] == encoder[0].bos_id
    assert all(t.answer[-1] == encoder[0].eos_id for t in turns)
    ex = layout.single_pass_example(turns)
    assert ex["input_tokens"].size == layout.single_pass_length(turns)
    assert ex["loss_weights"].sum() == layout.trained_tokens(turns)
    assert [e["input_tokens"].size for e in layout.n_pass_examples(turns)] == layout.n_pass_lengths(turns)


def test_cli_generate_and_validate(tmp_path, capsys):
  out = tmp_path / "g.jsonl"
  assert main(["generate", "--task", "nupa_add_integer", "--turns", "3", "--num", "2", "--lengths", "1-2",
               "--out", str(out), "--seed", "5"]) == 0
  convs = read_jsonl(out)
  assert len(convs) == 2 and all(len(c.turns) == 3 for c in convs)
  assert main(["validate", str(out)]) == 0
  assert "2 conversations, 6 turns" in capsys.readouterr().out
  # Same command, same file: generation is deterministic.
  again = tmp_path / "g2.jsonl"
  main(["generate", "--task", "nupa_add_integer", "--turns", "3", "--num", "2", "--lengths", "1-2",
        "--out", str(again), "--seed", "5"])
  assert out.read_text() == again.read_text()
  assert main(["generate", "--task", "nupa_add_intger", "--turns", "2", "--num", "1", "--out",
               str(tmp_path / "x.jsonl")]) == 2
  assert "nupa_add_integer" in capsys.readouterr().err
  assert not (tmp_path / "x.jsonl").exists()
  bad = tmp_path / "bad.jsonl"
  bad.write_text(json.dumps({"turns": [{"user": "q", "answer": ""}]}) + "\n")
  assert main(["validate", str(bad)]) == 2
  assert "bad.jsonl:1: turns[0].answer: must not be empty" in capsys.readouterr().err


def test_encoders_from_the_pipeline_vocabularies(conversations, encoder, tmp_path):
  """The data pipeline's vocabularies (char, tokenizer.json) give the same ids as their tokenizers, BOS first
  and EOS closing every answer."""
  from meta_rfft.data.vocab import CharVocabulary, HfTokenizerVocabulary
  from meta_rfft.multiturn.tokenize import TextEncoder
  encoder[2].save(str(tmp_path / "tokenizer.json"))
  hf = TextEncoder.from_vocabulary(HfTokenizerVocabulary(tmp_path / "tokenizer.json", eos_token="</s>",
                                                         bos_token="<s>"))
  conv = conversations[1]
  want = tokenize_conversation(conv, encoder[0])
  for a, b in zip(tokenize_conversation(conv, hf), want):
    for field in ("user", "reasoning", "answer"):
      assert getattr(a, field).tolist() == getattr(b, field).tolist()
  char_vocab = CharVocabulary()
  char = tokenize_conversation(conv, TextEncoder.from_vocabulary(char_vocab))
  assert char[0].user[0] == char_vocab.bos_id and all(t.answer[-1] == char_vocab.eos_id for t in char)
  assert char_vocab.decode(char[1].reasoning.tolist()) == conv.turns[1].reasoning


def test_cli_validate_refuses_an_empty_file_bad_utf8_and_a_directory(tmp_path, capsys):
  empty = tmp_path / "empty.jsonl"
  empty.write_text("\n\n")
  assert main(["validate", str(empty)]) == 2
  assert "empty.jsonl holds no conversation" in capsys.readouterr().err
  good = json.dumps({"turns": [{"user": "q", "reasoning": "r", "answer": "a"}]})
  latin = tmp_path / "latin.jsonl"
  latin.write_bytes(good.encode() + b"\n" + b'{"turns": [{"user": "caf\xe9"}]}\n')
  assert main(["validate", str(latin)]) == 2
  err = capsys.readouterr().err
  assert "latin.jsonl:2: not UTF-8 (byte 0xe9 at column 25)" in err and "Traceback" not in err
  assert main(["validate", str(tmp_path)]) == 2
  assert "is a directory" in capsys.readouterr().err
