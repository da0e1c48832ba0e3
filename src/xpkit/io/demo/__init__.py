"""Deterministic demo data with planted effects, for the experimentation project.

``generate(out_dir, seed)`` writes the raw tables the dbt project reads and a
``planted_truth.json`` that records what was planted, so tests (and people) can
check that the pipeline recovers it. ``python -m xpkit.io.demo --out data/demo``
runs it from the command line. Everything is drawn from
``numpy.random.default_rng``: the same seed gives byte-identical files.

Stories (unit ids are namespaced per story, so one units table serves all):

- E001 AI e-mail drafting for sales: prospects ``prospect_00001``; exposure =
  an outbound e-mail (first touch, then follow-ups); events ``email_reply``,
  ``meeting_booked`` (value null), all within 7 days of the first touch.
  Exactly round(rate x units) prospects per arm reply (and book), so the
  realised rates are the story's 0.18 / 0.26 and 0.05 / 0.08.
- E002 LLM support bot: support agents ``agent_0001`` are the units; exposure =
  the start of each shift from the agent's first day in the experiment; every
  resolved ticket is an event ``ticket_resolved`` (value = resolution minutes)
  and a survey answer is ``csat_submitted`` (value = score 1-5). Resolution
  time is a ratio metric (minutes per ticket), so the ticket is the analysis
  grain while the agent is the randomisation unit; tickets from the 14 days
  before an agent's first exposure are the CUPED pre-period.
- E003 automated resume screening: planned, no exposures; recruiters
  ``recruiter_001`` have pre-launch ``resume_screened`` (value = minutes) and
  ``hire_quality_rated`` (value = score 1-5) events.
- E004 e-mail personalisation A/B/n: customers ``cust_00001`` in three segments,
  randomised within segment; exposure = the campaign e-mail (and a reminder);
  funnel events ``email_opened`` -> ``email_clicked`` -> ``order_placed``
  (value = order amount): only openers click, only clickers order.
- E005 personalised home feed: users ``user_000001``; exposure = a session in
  which the feed could be shown, with ``received_treatment`` telling whether
  it actually was (imperfect compliance driven by an unobserved trait);
  events ``app_session`` (value = minutes) and ``purchase`` (value = amount),
  in the 14 days before and after each user's first exposure.

Files written into ``out_dir``:

- ``exposures.parquet``: experiment_id, unit_id, variant (string), exposed_at
  (timestamp[us], UTC, no zone), received_treatment (bool, null except E005).
- ``events.parquet``: unit_id, event_name (string), event_at (timestamp[us]),
  value (float64, nullable).
- ``units.parquet``: unit_id, segment (string), age (int64), activity_score
  (float64), signup_month (int64), eligible (bool); attributes a story lacks
  are null.
- ``planted_truth.json``, with these keys:

  - ``format_version`` (int), ``seed`` (int), ``generator`` ("xpkit.demo").
  - ``row_counts``: {"exposures", "events", "units"}: rows in each file.
  - ``bad_rows``: {"exposures": {kind: n}, "events": {kind: n}}: every injected
    bad row by raw table and kind, over all experiments and unregistered ids.
    Exposure kinds: ``duplicate`` (extra copies of an exact duplicate row),
    ``unknown_variant``, ``unknown_experiment``, ``null_timestamp``,
    ``out_of_range`` (outside the experiment's start..end dates). Event kinds:
    ``duplicate``, ``null_unit_id``, ``empty_unit_id``, ``null_timestamp``,
    ``future_timestamp``, ``negative_value`` (on an event feeding a sum metric).
  - ``unknown_experiment_ids``: experiment ids used by ``unknown_experiment`` rows.
  - ``experiments``: {experiment_id: {...}} with, for each experiment:

    - ``name``, ``status``, ``control_variant``, ``variants`` (list).
    - ``units_per_variant``: units generated per assigned variant.
    - ``multi_variant_units``: sorted unit ids also exposed to a second variant
      (the pipeline excludes them); ``n_multi_variant_units``.
    - ``analysable_units_per_variant``: units_per_variant minus those units.
    - ``row_counts``: {"exposures", "events"}: rows attributable to the story,
      bad rows included.
    - ``bad_rows``: {"exposures": {kind: n}, "events": {kind: n}} for rows
      attributable to the story (events by their unit namespace or event name).
    - ``planted``: {metric_id: {variant: value}}: the per-arm value the story
      was drawn from (rates for binary metrics, per-unit means for count and
      sum metrics, ratios for ratio metrics; E005 values are expectations under
      the realised compliance).
    - ``parameters``: story-specific planted parameters (segment interactions,
      compliance model, per-category effects, timing); see each story below.
    - ``expected_decision``: the decision the story is built to produce (from
      DEMO_SCENARIOS.md), or null where it depends on the decision rules.


One module per story (``story_e001`` ... ``story_e005``); ``common`` holds
what they share and ``generate`` runs them and writes the files.
"""

from __future__ import annotations

from xpkit.io.demo.common import DEFAULT_SEED, FORMAT_VERSION, REGISTRY
from xpkit.io.demo.generate import generate, main

__all__ = ["DEFAULT_SEED", "FORMAT_VERSION", "REGISTRY", "generate", "main"]
