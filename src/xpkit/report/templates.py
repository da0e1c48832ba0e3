"""Jinja templates of the report pages (autoescaped; XHTML-compatible markup).

Pages are polyglot HTML5: every element is closed and only XML's own character
references are used, so each page parses as XML as well as HTML (the tests
check this). No external resource is referenced: CSS is inline, charts are
inline SVG, links are relative.
"""

from __future__ import annotations

STYLE = """
:root { --ink: #1f2328; --muted: #656d76; --line: #d8dee4; --soft: #f6f8fa;
  --brand: #1b2a41; --accent: #0969da; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: #eef1f5; color: var(--ink);
  font: 15px/1.55 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto,
  "Helvetica Neue", Arial, sans-serif; }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { background: var(--brand); color: #ffffff; padding: 22px 0 18px; }
header.top a { color: #c9d6ea; }
.wrap { max-width: 1120px; margin: 0 auto; padding: 0 24px; }
header.top h1 { margin: 4px 0 2px; font-size: 26px; font-weight: 650;
  letter-spacing: -0.01em; }
header.top .sub { color: #c9d6ea; font-size: 14px; }
main.wrap { padding-top: 22px; padding-bottom: 40px; }
section.card { background: #ffffff; border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 22px 20px; margin: 0 0 18px; }
section.card h2 { margin: 0 0 12px; font-size: 18px; font-weight: 650; }
section.card h3 { margin: 16px 0 8px; font-size: 15px; font-weight: 650; }
p { margin: 0 0 10px; }
.lead { font-size: 17px; line-height: 1.5; }
.muted { color: var(--muted); }
.small { font-size: 13px; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; word-break: break-all; }
nav.toc { display: flex; flex-wrap: wrap; gap: 6px 14px; margin: 10px 0 0;
  font-size: 13px; }
nav.toc a { color: #c9d6ea; }
.badge { display: inline-block; padding: 2px 9px; border-radius: 999px;
  font-size: 12px; font-weight: 650; line-height: 18px; white-space: nowrap;
  border: 1px solid transparent; }
.badge.big { font-size: 15px; padding: 4px 14px; line-height: 22px; }
.decision-scale { background: #1a7f37; color: #ffffff; }
.decision-iterate { background: #9a6700; color: #ffffff; }
.decision-stop { background: #cf222e; color: #ffffff; }
.decision-do-not-start { background: #57606a; color: #ffffff; }
.decision-keep-running { background: #0969da; color: #ffffff; }
.decision-none { background: #ffffff; color: var(--muted); border-color: var(--line); }
.direction-good { background: #dafbe1; color: #116329; }
.direction-bad { background: #ffebe9; color: #a40e26; }
.direction-flat { background: #eaeef2; color: #424a53; }
.guardrail-passed { background: #dafbe1; color: #116329; }
.guardrail-breached { background: #ffebe9; color: #a40e26; }
.guardrail-inconclusive, .guardrail-no-status { background: #fff8c5; color: #4d2d00; }
.harm p.lead { margin: 4px 0; font-size: 15px; }
.direction-none { background: #ffffff; color: var(--muted); border-color: var(--line); }
.status-completed { background: #ddf4ff; color: #0550ae; }
.status-running { background: #fff8c5; color: #7d4e00; }
.status-planned { background: #eaeef2; color: #424a53; }
.status-stopped { background: #ffebe9; color: #a40e26; }
.status-none { background: #ffffff; color: var(--muted); border-color: var(--line); }
.role { background: #f6f8fa; color: #424a53; border-color: var(--line); }
.srm-ok { background: #dafbe1; color: #116329; }
.srm-mismatch { background: #cf222e; color: #ffffff; }
.srm-none { background: #ffffff; color: var(--muted); border-color: var(--line); }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr));
  gap: 12px; margin: 14px 0 4px; }
.tile { background: var(--soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; }
.tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.04em; }
.tile .value { font-size: 20px; font-weight: 650; margin-top: 2px; }
.tile .note { color: var(--muted); font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line);
  vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 650; text-transform: uppercase;
  letter-spacing: 0.03em; background: var(--soft); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums;
  white-space: nowrap; }
td .ci { display: block; color: var(--muted); font-size: 12px; }
tr.error td { color: var(--muted); }
.scroll { overflow-x: auto; }
dl.facts { display: grid; grid-template-columns: 210px 1fr; gap: 6px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
.notice { border-radius: 8px; padding: 12px 16px; margin: 6px 0; font-size: 14px; }
.notice-missing { background: #fff8c5; border: 1px solid #d4a72c; color: #4d2d00; }
.notice-nodata { background: #ddf4ff; border: 1px solid #54aeff; color: #0a3069; }
.notice-alert { background: #ffebe9; border: 1px solid #ff8182; color: #82071e; }
.chart-box { overflow-x: auto; margin: 8px 0; }
svg.chart { max-width: 100%; height: auto; display: block; }
ul.plain { margin: 0 0 10px; padding-left: 20px; }
ul.versions { list-style: none; margin: 0; padding: 0; display: grid; gap: 6px 12px;
  grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); }
ul.versions li { background: var(--soft); border: 1px solid var(--line);
  border-radius: 6px; padding: 4px 10px; font-size: 13px; }
footer { color: var(--muted); font-size: 12.5px; padding: 0 0 30px; }
.portfolio td { vertical-align: middle; }
.portfolio .name { font-weight: 650; }
"""

BASE = """<!DOCTYPE html>
<html lang="en" xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<meta name="generator" content="xpkit.report"/>
<title>{% block title %}{% endblock %}</title>
<style>{{ style }}</style>
</head>
<body>
{% block body %}{% endblock %}
</body>
</html>
"""

MACROS = """
{% macro decision_badge(code, big=False) -%}
<span class="badge decision-{{ code | css }}{{ ' big' if big }}">{{
  code | decision_label }}</span>
{%- endmacro %}
{% macro direction_badge(direction) -%}
<span class="badge direction-{{ direction | css }}">{{ direction or 'no test' }}</span>
{%- endmacro %}
{% macro status_badge(status) -%}
<span class="badge status-{{ status | css }}">{{ status or 'unknown' }}</span>
{%- endmacro %}
{% macro srm_badge(flag) -%}
{%- if flag is none -%}<span class="badge srm-none">no test</span>
{%- elif flag -%}<span class="badge srm-mismatch">SRM: mismatch</span>
{%- else -%}<span class="badge srm-ok">balanced</span>{%- endif -%}
{%- endmacro %}
{% macro notice(item) -%}
<div class="notice notice-{{ item.kind }}">{{ item.text }}</div>
{%- endmacro %}
{% macro notices(items) -%}
{% for item in items %}{{ notice(item) }}{% endfor %}
{%- endmacro %}
{% macro reproducibility(prov, load_log) -%}
<dl class="facts">
  <dt>Project commit</dt><dd class="mono">{{ prov.git_commit }}</dd>
  <dt>Report built at (UTC)</dt><dd>{{ prov.built_at | ts }}</dd>
  <dt>Data as of</dt><dd>{{ prov.as_of or 'not recorded' }}</dd>
  <dt>Warehouse</dt><dd class="mono">{{ prov.database }}</dd>
</dl>
<h3>Package versions</h3>
<ul class="versions">
  {% for name, version in prov.versions.items() %}
  <li><span class="muted">{{ name }}</span> <span class="mono">{{ version }}</span></li>
  {% endfor %}
</ul>
<h3>Inputs</h3>
<p class="small muted">Digest: the sum over rows of each row's 64-bit hash
(DuckDB's hash()), exact: independent of row order, changed by any edited,
added or removed row. "At build" is the digest marts.build_manifest recorded
when the marts were built, when that mart exists.</p>
<div class="scroll"><table>
  <thead><tr><th>table</th><th class="num">rows</th><th>digest now</th>
  <th>at build</th></tr></thead>
  <tbody>
  {% for d in prov.digests %}
  <tr><td>{{ d.table }}</td><td class="num">{{ d.row_count | int_ }}</td>
  <td class="mono">{{ d.digest }}</td>
  <td>{% if d.digest_at_build is none %}<span class="muted">not recorded</span>
  {%- elif d.digest_at_build == d.digest %}same
  {%- else %}<strong>differs</strong>: <span class="mono">{{ d.digest_at_build
  }}</span>{% endif %}</td></tr>
  {% else %}
  <tr><td colspan="4" class="muted">No input tables found.</td></tr>
  {% endfor %}
  </tbody>
</table></div>
<h3>Load log</h3>
{% if load_log is none %}
<div class="notice notice-missing">Not available: raw._load_log does not exist
(the raw tables were not loaded with xpkit.load).</div>
{% elif not load_log %}
<p class="muted">The load log is empty.</p>
{% else %}
<div class="scroll"><table>
  <thead><tr><th>table</th><th>source file</th><th class="num">rows</th>
  <th>loaded at (UTC)</th><th>load id</th></tr></thead>
  <tbody>
  {% for row in load_log %}
  <tr><td>{{ row.table_name }}</td><td class="mono">{{ row.source_file }}</td>
  <td class="num">{{ row.row_count | int_ }}</td><td>{{ row.loaded_at | ts }}</td>
  <td class="mono">{{ row.load_id }}</td></tr>
  {% endfor %}
  </tbody>
</table></div>
{% endif %}
{%- endmacro %}
"""

INDEX = """{% extends "base.html" %}
{% from "macros.html" import decision_badge, status_badge, srm_badge, notices,
  reproducibility %}
{% block title %}Experimentation portfolio{% endblock %}
{% block body %}
<header class="top"><div class="wrap">
  <div class="sub">Experimentation report</div>
  <h1>Experimentation portfolio</h1>
  <div class="sub">{{ experiments | length }} registered experiments ·
  built {{ prov.built_at | ts }} UTC{% if prov.as_of %} · data as of {{ prov.as_of
  }}{% endif %}</div>
</div></header>
<main class="wrap">
<section class="card" id="overview">
  <h2>Overview</h2>
  {{ notices(page_notices) }}
  <div class="tiles">
    <div class="tile"><div class="label">Experiments</div>
      <div class="value">{{ experiments | length }}</div>
      <div class="note">{{ status_counts }}</div></div>
    {% for code, count in decision_counts %}
    <div class="tile"><div class="label">Decision</div>
      <div class="value">{{ count }}</div>
      <div class="note">{{ decision_badge(code) }}</div></div>
    {% endfor %}
  </div>
</section>
<section class="card" id="portfolio">
  <h2>Experiments</h2>
  <div class="scroll"><table class="portfolio">
    <thead><tr><th>experiment</th><th>domain · owner</th><th>status</th>
    <th>dates</th><th class="num">units</th><th>SRM</th><th>primary metric</th>
    <th>decision</th></tr></thead>
    <tbody>
    {% for e in experiments %}
    <tr id="row-{{ e.anchor }}">
      <td><a class="name" href="{{ e.href }}">{{ e.name }}</a><br/>
        <span class="small muted mono">{{ e.experiment_id }}</span></td>
      <td>{{ e.domain or '—' }}<br/><span class="small muted">{{ e.owner or '—'
      }}</span></td>
      <td>{{ status_badge(e.status) }}</td>
      <td class="small">{{ e.dates }}{% if e.days_running is not none %}<br/>
        <span class="muted">{{ e.days_running | int_ }} days</span>{% endif %}</td>
      <td class="num">{{ e.units | int_ }}</td>
      <td>{{ srm_badge(e.srm_flag) }}</td>
      <td>{% if e.primary %}<span class="small">{{ e.primary.metric
        }}{% if e.primary.variant %} · {{ e.primary.variant }}{% endif %}</span><br/>
        <strong>{{ e.primary.lift }}</strong>
        <span class="small muted">{{ e.primary.p_label }}</span>
        {% else %}<span class="muted small">{{ e.primary_note }}</span>{% endif %}</td>
      <td>{{ decision_badge(e.decision) }}</td>
    </tr>
    {% if e.summary %}
    <tr class="summary-row"><td></td><td colspan="7" class="small muted">{{
      e.summary }}</td></tr>
    {% endif %}
    {% if e.harms %}
    <tr class="summary-row harm"><td></td><td colspan="7" class="small">{% for line
      in e.harms %}<span class="badge direction-bad">harm</span> {{ line }}<br/>{%
      endfor %}</td></tr>
    {% endif %}
    {% endfor %}
    </tbody>
  </table></div>
</section>
<section class="card" id="reproducibility">
  <h2>Reproducibility</h2>
  {{ reproducibility(prov, load_log) }}
</section>
</main>
<footer class="wrap">Generated by xpkit.report from the warehouse marts. Methodology:
{% if methodology_href %}<a href="{{ methodology_href }}">docs/methodology.md</a>{%
else %}docs/methodology.md{% endif %}.{% if data_docs_href %} Data-quality checks:
<a href="{{ data_docs_href }}">Great Expectations data docs</a>.{% endif %}</footer>
{% endblock %}
"""

EXPERIMENT = """{% extends "base.html" %}
{% from "macros.html" import decision_badge, direction_badge, status_badge,
  srm_badge, notice, notices, reproducibility %}
{% block title %}{{ e.name }} ({{ e.experiment_id }}) · experiment report{% endblock %}
{% block body %}
<header class="top"><div class="wrap">
  <div class="sub"><a href="../index.html">← Portfolio</a> · <span class="mono">{{
    e.experiment_id }}</span> · {{ e.domain or 'no domain' }} · {{ e.owner or
    'no owner' }}</div>
  <h1>{{ e.name }}</h1>
  <div class="sub">{{ status_badge(e.status) }} {{ e.dates }}</div>
  <nav class="toc">
    {% for anchor, title in sections %}<a href="#{{ anchor }}">{{ title }}</a>
    {% endfor %}
  </nav>
</div></header>
<main class="wrap">

<section class="card" id="summary">
  <h2>Executive summary</h2>
  {% if decision %}
  <p class="lead">{{ decision_badge(decision.decision, big=True) }}
    {{ headline_action }}</p>
  {% if headline_harms %}
  <div class="notice notice-alert harm" id="harm">{% for line in headline_harms
    %}<p class="lead">{{ line }}</p>{% endfor %}</div>
  {% endif %}
  {% if decision.rationale %}<p>{{ decision.rationale | sentence }}</p>{% endif %}
  {% else %}
  {{ notices(decision_notices) }}
  {% if headline_harms %}
  <div class="notice notice-alert harm" id="harm">{% for line in headline_harms
    %}<p class="lead">{{ line }}</p>{% endfor %}</div>
  {% endif %}
  {% endif %}
  {% if summary_text %}<p>{{ summary_text | sentence }}</p>{% endif %}
  {% if not has_data %}{{ notice(no_data) }}{% endif %}
  {% if primary_summaries %}
  <ul class="plain">{% for s in primary_summaries %}<li>{{ s }}</li>{% endfor %}</ul>
  {% endif %}
  <div class="tiles">
    {% for tile in tiles %}
    <div class="tile"><div class="label">{{ tile.label }}</div>
      <div class="value">{{ tile.value }}</div>
      {% if tile.note %}<div class="note">{{ tile.note }}</div>{% endif %}</div>
    {% endfor %}
  </div>
</section>

<section class="card" id="hypothesis">
  <h2>Hypothesis and success criteria</h2>
  <p class="lead">{{ (e.hypothesis or 'No hypothesis registered') | sentence }}</p>
  <h3>Metrics</h3>
  {% if criteria %}
  <div class="scroll"><table>
    <thead><tr><th>role</th><th>metric</th><th>better when</th><th>type</th>
    <th>guardrail tolerance</th><th>definition</th></tr></thead>
    <tbody>
    {% for m in criteria %}
    <tr><td><span class="badge role">{{ m.role }}</span></td>
      <td><strong>{{ m.name }}</strong><br/><span class="small muted mono">{{
        m.metric_id }}</span></td>
      <td>{{ m.better }}</td><td>{{ m.kind }}</td><td>{{ m.tolerance }}</td>
      <td class="small">{{ m.description }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% else %}
  <div class="notice notice-alert">No metrics are registered for this experiment
  (seeds/experiment_metrics.csv): there is nothing to decide on.</div>
  {% endif %}
  <h3>Design</h3>
  <dl class="facts">
    {% for label, value in design %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
    {% endfor %}
  </dl>
</section>

<section class="card" id="decision">
  <h2>Decision and recommended action</h2>
  {% if decision %}
  <p class="lead">{{ decision_badge(decision.decision, big=True) }}</p>
  <dl class="facts">
    <dt>Recommended action</dt><dd>{{ decision.recommended_action | sentence }}</dd>
    <dt>Rationale</dt><dd>{{ decision.rationale | sentence }}</dd>
    <dt>Rule</dt><dd class="mono">{{ decision.rule or '—' }}</dd>
    <dt>Decided at (as of)</dt><dd>{{ decision.decided_at | ts }}</dd>
  </dl>
  {% if decisions_doc_href %}<p class="small">The rules, their order and their
  settings: <a href="{{ decisions_doc_href }}">docs/decisions.md</a>.</p>{% endif %}
  <h3>Inputs the rule used</h3>
  <dl class="facts">
    {% for label, value in decision_inputs %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
    {% endfor %}
  </dl>
  {% else %}
  {{ notices(decision_notices) }}
  {% endif %}
</section>

<section class="card" id="methodology">
  <h2>Methodology</h2>
  <ul class="plain">{% for line in methodology %}<li>{{ line }}</li>{% endfor %}</ul>
  <p class="small">Every formula, with the independent checks behind it:
  {% if methodology_href %}<a href="{{ methodology_href }}">docs/methodology.md</a>{%
  else %}docs/methodology.md{% endif %}. What this report shows and how it is built:
  {% if report_doc_href %}<a href="{{ report_doc_href }}">docs/report.md</a>{%
  else %}docs/report.md{% endif %}.</p>
</section>

<section class="card" id="results">
  <h2>Metric results</h2>
  {% if results_notices %}{{ notices(results_notices) }}{% else %}
  <p class="small muted">Lifts are treatment minus control with {{ ci_label }}
  confidence intervals in brackets; p is two-sided; adjusted p applies the
  {{ correction }} correction within the experiment. Binary metrics are rates
  and their absolute lifts are in percentage points (pp). P(beat control) is the
  Bayesian posterior probability that the variant is better than control, with
  the expected relative loss of shipping it below (methodology, Bayesian).{% if
  results_adjusted %} The "adj." interval is adjusted for multiple testing like
  adj. p: it excludes 0 exactly when the result is significant, and it is the
  interval the forest plot draws.{% endif %} Guardrails show their
  non-inferiority status: passed (the harm is within the tolerance), breached
  or inconclusive.</p>
  <div class="scroll"><table>
    <thead><tr><th>metric</th><th>variant</th><th class="num">units (c / t)</th>
    <th class="num">control</th><th class="num">treatment</th>
    <th class="num">abs. lift</th><th class="num">rel. lift</th>
    <th class="num">p</th><th class="num">adj. p</th>
    <th class="num">CUPED abs. lift</th><th class="num">P(beat control)</th>
    <th>result</th></tr></thead>
    <tbody>
    {% for r in results %}
    <tr{% if r.error %} class="error"{% endif %}>
      <td><strong>{{ r.metric }}</strong><br/><span class="badge role">{{ r.role
        }}</span></td>
      <td>{{ r.variant }}</td>
      {% if r.has_figures %}
      <td class="num">{{ r.units }}</td>
      <td class="num">{{ r.control }}</td><td class="num">{{ r.treatment }}</td>
      <td class="num">{{ r.abs_lift }}<span class="ci">{{ r.abs_ci }}</span>{% if
        r.abs_ci_adjusted %}<span class="ci">{{ r.abs_ci_adjusted }}</span>{% endif
        %}</td>
      <td class="num">{{ r.rel_lift }}<span class="ci">{{ r.rel_ci }}</span>{% if
        r.rel_ci_adjusted %}<span class="ci">{{ r.rel_ci_adjusted }}</span>{% endif
        %}</td>
      <td class="num">{{ r.p }}</td><td class="num">{{ r.p_adjusted }}</td>
      <td class="num">{{ r.cuped }}<span class="ci">{{ r.cuped_ci }}</span>{% if
        r.cuped_ci_adjusted %}<span class="ci">{{ r.cuped_ci_adjusted }}</span>{%
        endif %}{% if
        r.variance_reduction %}<span class="ci">{{ r.variance_reduction
        }}</span>{% endif %}</td>
      <td class="num">{{ r.chance }}{% if r.expected_loss %}<span class="ci">{{
        r.expected_loss }}</span>{% endif %}</td>
      <td>{{ direction_badge(r.direction) }}{% if r.guardrail_status %}<br/><span
        class="badge guardrail-{{ r.guardrail_status | css }}">guardrail {{
        r.guardrail_status }}</span>{% if r.guardrail_bound %}<span class="ci">{{
        r.guardrail_bound }}</span>{% endif %}{% endif %}</td>
      {% else %}
      <td colspan="10" class="small">{{ r.error }}</td>
      {% endif %}
    </tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% endif %}
</section>

<section class="card" id="forest">
  <h2>Relative lift with confidence intervals</h2>
  {% if forest_notices %}{{ notices(forest_notices) }}{% else %}
  <p class="small muted">Each row is one metric and treatment variant: the point
  is the relative lift, the bar its {{ ci_label }} interval{% if results_adjusted
  %}, adjusted for multiple testing like the verdict that colours it{% endif %}.
  Green: significantly better, red: significantly worse, grey: not significant
  after correction; a dashed amber bar marks a verdict its interval does not
  agree with.</p>
  <div class="chart-box">{{ forest_svg }}</div>
  {% endif %}
</section>

<section class="card" id="cumulative">
  <h2>Cumulative lift over exposure days</h2>
  {% if cumulative_notices %}{{ notices(cumulative_notices) }}{% else %}
  <p class="small muted">Each point compares the units first exposed up to that
  day, each with its whole analysis window, so the last point is the final
  result. A line that settles and a band that narrows mean the estimate has
  stabilised; it is not what a dashboard would have shown on that day.</p>
  {% for c in cumulative %}
  <h3>{{ c.metric }}</h3>
  <div class="chart-box">{{ c.svg }}</div>
  {% if c.note %}<p class="small muted">{{ c.note }}</p>{% endif %}
  {% if c.sequential_svg %}
  <p class="small muted">Always-valid (sequential) interval from
  marts.daily_results: unlike the band above, it may be checked every day
  without inflating false positives (methodology, Sequential).</p>
  <div class="chart-box">{{ c.sequential_svg }}</div>
  {% endif %}
  {% if c.sequential_note %}<p class="small">{{ c.sequential_note }}</p>{% endif %}
  {% endfor %}
  {% endif %}
</section>

<section class="card" id="balance">
  <h2>Assignment balance and sample ratio mismatch</h2>
  {% if balance_notices %}{{ notices(balance_notices) }}{% endif %}
  {% if balance %}
  <p>{{ srm_badge(balance.flag) }} {{ balance.text }}</p>
  <div class="chart-box">{{ balance.svg }}</div>
  <div class="scroll"><table>
    <thead><tr><th>variant</th><th class="num">allocation weight</th>
    <th class="num">expected share</th><th class="num">observed share</th>
    <th class="num">units</th></tr></thead>
    <tbody>
    {% for b in balance.rows %}
    <tr><td>{{ b.variant }}{% if b.is_control %}
      <span class="badge role">control</span>{% endif %}</td>
      <td class="num">{{ b.weight }}</td><td class="num">{{ b.expected }}</td>
      <td class="num">{{ b.observed }}</td><td class="num">{{ b.units }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% if balance.health %}<p class="small muted">{{ balance.health }}</p>{% endif %}
  {% endif %}
</section>

<section class="card" id="planned_assignment">
  <h2>Planned assignment</h2>
  {% if plan_notices %}{{ notices(plan_notices) }}{% endif %}
  {% if plan %}
  <p>{{ srm_badge(plan.flag) }} {{ plan.text }}</p>
  <div class="chart-box">{{ plan.svg }}</div>
  <div class="scroll"><table>
    <thead><tr><th>variant</th><th class="num">expected share</th>
    <th class="num">assigned share</th><th class="num">units</th></tr></thead>
    <tbody>
    {% for b in plan.rows %}
    <tr><td>{{ b.variant }}{% if b.is_control %}
      <span class="badge role">control</span>{% endif %}</td>
      <td class="num">{{ b.expected }}</td><td class="num">{{ b.observed }}</td>
      <td class="num">{{ b.units }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% endif %}
</section>

<section class="card" id="segments">
  <h2>Segments</h2>
  {% if segment_notices %}{{ notices(segment_notices) }}{% else %}
  <p class="small muted">Relative lift of the primary metric and of each
  guardrail within each segment (units with that attribute value), per treatment
  variant. Cells with too few units are suppressed; adjusted p-values are
  corrected within the segment. Segment-vs-rest p-values test whether a
  segment's lift differs from the lift in the other units (Benjamini-Hochberg
  across segments).</p>
  {% for s in segments %}
  <h3>{{ s.metric }}</h3>
  <div class="chart-box">{{ s.svg }}</div>
  {% for line in s.notes %}<p class="small">{{ line }}</p>{% endfor %}
  {% endfor %}
  {% endif %}
</section>

<section class="card" id="heterogeneity">
  <h2>Heterogeneous effects and cohorts</h2>
  <h3>Conditional average treatment effects</h3>
  {% if hte_notices %}{{ notices(hte_notices) }}{% endif %}
  {% if hte %}
  <p class="small muted">Estimated effect of assignment to the treatment on
  {{ hte.metric }} for units like these (segment, age, activity score, signup
  month, pre-period value), by three meta-learners on gradient-boosted trees,
  cross-fitted: every unit's estimate comes from models that never saw it.
  Cells show the mean estimate of their units; "observed" is the cell's plain
  difference in means. Estimates of small cells shrink towards the average.</p>
  {% for m in hte.maps %}<div class="chart-box">{{ m.svg }}</div>{% endfor %}
  {% for line in hte.extremes %}<p class="small">{{ line }}</p>{% endfor %}
  <h3>ROI versus budget</h3>
  <p class="small muted">Treat the x% of units with the highest estimated
  effect: the line is the extra {{ hte.metric }} that gives (units treated x
  the observed difference in means among them, on held-out estimates); the
  dashed line is treating the same number of units at random. A curve above
  the dashed line means targeting pays.</p>
  <div class="chart-box">{{ hte.roi_svg }}</div>
  <div class="scroll"><table>
    <thead><tr><th>learner</th><th class="num">budget</th><th class="num">units</th>
    <th class="num">mean estimate</th><th class="num">observed uplift</th>
    <th class="num">incremental outcome</th><th class="num">at random</th></tr></thead>
    <tbody>
    {% for r in hte.roi_rows %}
    <tr><td>{{ r.learner }}</td><td class="num">{{ r.share }}</td>
      <td class="num">{{ r.units }}</td><td class="num">{{ r.predicted }}</td>
      <td class="num">{{ r.observed }}</td><td class="num">{{ r.gain }}</td>
      <td class="num">{{ r.random }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% endif %}
  <h3>Cohorts</h3>
  {% if cohort_notices %}{{ notices(cohort_notices) }}{% endif %}
  {% if cohorts %}
  <p class="small muted">Analysed units by segment, activity-score bin and
  signup month: size, share assigned to a treatment arm, share that received
  the treatment (where recorded), and the mean pre-period value and mean
  outcome of the primary metric ({{ cohort_metric }}); cohorts with too few
  units show no means.</p>
  <div class="scroll"><table>
    <thead><tr><th>segment</th><th>activity</th><th class="num">signup month</th>
    <th class="num">units</th><th class="num">in treatment arm</th>
    <th class="num">received treatment</th><th class="num">mean pre-period</th>
    <th class="num">mean outcome</th></tr></thead>
    <tbody>
    {% for c in cohorts %}
    <tr><td>{{ c.segment }}</td><td>{{ c.activity_bin }}</td>
      <td class="num">{{ c.signup_month }}</td><td class="num">{{ c.units }}</td>
      <td class="num">{{ c.treatment_rate }}</td>
      <td class="num">{{ c.received_rate }}</td>
      <td class="num">{{ c.pre }}</td><td class="num">{{ c.outcome }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  {% endif %}
</section>

<section class="card" id="compliance">
  <h2>Non-compliance</h2>
  {% if compliance_notices %}{{ notices(compliance_notices) }}{% else %}
  <p class="small muted">Not every unit got what it was assigned. The
  intention-to-treat effect compares the arms as randomised (unbiased for the
  effect of offering the treatment); the complier effect divides it by the
  difference in uptake (the effect on units who take the treatment when, and
  only when, assigned to it). The naive comparisons by treatment actually
  received are shown for contrast: they are biased whenever uptake depends on
  something that also drives the metric. Intervals {{ ci_label }}, normal.</p>
  {% for c in compliance %}
  <h3>{{ c.metric }}</h3>
  {% if c.error %}<div class="notice notice-alert">{{ c.error }}</div>{% else %}
  {% if c.weak %}<div class="notice notice-alert">Weak instrument: the
  complier effect and its interval are unreliable.</div>{% endif %}
  <div class="scroll"><table>
    <thead><tr><th>estimate</th><th class="num">effect</th>
    <th class="num">{{ ci_label }} interval</th><th class="num">std. error</th>
    <th class="num">p</th></tr></thead>
    <tbody>
    {% for label, f in c.estimates %}
    <tr><td>{{ label }}</td><td class="num">{{ f.estimate }}</td>
      <td class="num">{{ f.ci }}</td><td class="num">{{ f.se }}</td>
      <td class="num">{{ f.p }}</td></tr>
    {% endfor %}
    </tbody>
  </table></div>
  <dl class="facts">
    {% for label, value in c.facts %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
    {% endfor %}
  </dl>
  {% for line in c.notes %}<p class="small">{{ line }}</p>{% endfor %}
  {% endif %}
  {% endfor %}
  {% endif %}
</section>

<section class="card" id="power">
  <h2>Power and progress</h2>
  {% if power_notices %}{{ notices(power_notices) }}{% endif %}
  {% for p in power %}
  <h3>{{ p.metric }}</h3>
  <div class="chart-box">{{ p.svg }}</div>
  <dl class="facts">
    {% for label, value in p.facts %}<dt>{{ label }}</dt><dd>{{ value }}</dd>
    {% endfor %}
  </dl>
  {% endfor %}
</section>

<section class="card" id="reproducibility">
  <h2>Reproducibility</h2>
  {{ reproducibility(prov, load_log) }}
</section>
</main>
<footer class="wrap">Generated by xpkit.report from the warehouse marts
({{ prov.built_at | ts }} UTC).</footer>
{% endblock %}
"""

TEMPLATES = {
    "base.html": BASE,
    "macros.html": MACROS,
    "index.html": INDEX,
    "experiment.html": EXPERIMENT,
}
