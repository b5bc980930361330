"""Rule-following task machinery: task contract, tracer, prompt formats, registry and CLI.

Public entry points:
  meta_rfft.tasks.registry: get_task, all_tasks, tasks_in_split, register_task, load_task_module
  meta_rfft.tasks.formats: render, make_example, sample_instance, register_format, format_names
  meta_rfft.tasks.answers: format_answer, extract_answer
  meta_rfft.tasks.tracer: trace_rule, render_rf, render_scratchpad
"""

# Importing nl_format registers the `rf_nl` format; importing it here makes that format available wherever
# the task machinery is used (CLI, seqio tasks), not only where a caller thought to import it.
from meta_rfft.tasks import nl_format  # noqa: E402,F401
