"""Single-pass training of multi-turn reasoning conversations, exactly equal to one pass per turn.

Importing this package registers the single-pass visibility rule with the model (`layout.RULE_NAME`).
"""
from meta_rfft.multiturn import token_layout as layout
from meta_rfft.multiturn.conversation import Conversation, ConversationError, Turn, read_jsonl, write_jsonl
from meta_rfft.multiturn.model_io import token_log_probs, visibility_from_batch, weighted_nll
