"""Alerting verified: the embedded Alertmanager, drillkit's webhook receiver, alert rules checked
with promtool, the alerts watched while a drill runs, and the journal's ``alerting`` section.

- ``alertmanager``: the embedded Alertmanager's config and command line; reading ``/api/v2/alerts``;
- ``receiver``: the webhook receiver (every notification with the time it arrived);
- ``rules``: the reference rules, promtool check and unit tests;
- ``watch``: the drill's watcher of Prometheus, Alertmanager and the receiver;
- ``section``: alert episodes timed from the fault, false alarms (pure).
"""
