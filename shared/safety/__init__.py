"""Content safety (docs/SAFETY.md): prompt moderation before anything is spent, output screening
before anything is shared, reports from users, and the records that keep blocked content unshared.

`policy` holds the ports and verdicts, `rules` the local text classifier, `gate` the cached check the
API's miss path calls, `reports` the report and review records, `build` the composition from settings.
"""
