"""Traffic visibility: rollups of flow and stats records at ingest, and the views on them.

``rollup`` aggregates each stored batch (called by the event store in its transaction),
``fold`` turns minutes into hours and days and applies retention, ``geo`` places remote
addresses (country, AS) offline, ``service`` answers the UI, the reports and the CLI.
"""
