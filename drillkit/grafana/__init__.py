"""Grafana for drills: the committed dashboard of the reference deployment, and the annotations
a drill posts on it (fault window, rollback, verdict).

- :mod:`drillkit.grafana.dashboard`: ``build_dashboard()`` / ``dashboard_json()``, built with the
  Grafana Foundation SDK; ``grafana/drillkit-dashboard.json`` is its committed output.
- :mod:`drillkit.grafana.annotations`: ``annotations_of(journal)`` (pure) and
  ``post_annotations(spec, annotations)`` (never fails a drill when Grafana is down).
"""
