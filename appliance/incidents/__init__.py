"""Incidents: alerts and findings correlated into stories that analysts work.

``correlate`` groups new evidence into incidents (incrementally, by chunk cursor),
``noise`` keeps engine noise and suppressed kinds out, ``service`` is
``Service.incidents`` (lists, detail, lifecycle, suppressions), ``cli`` is
``spanwatch incidents``.
"""
