"""The question-answer study: exact-match accuracy on questions with reference answers (e.g. GSM8K)."""
