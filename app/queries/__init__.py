"""The dashboard's queries: one module per page over `connection` (the read-only warehouse).

`connection` opens the published warehouse and holds the helpers every query uses;
`headline` has what the header, the sidebar and several pages share; `overview`, `failures`,
`traces`, `cost`, `budgets`, `governance` and `data_health` hold each page's own queries.
They select from the published marts (`marts.*`, `data_quality.*`); the shaping of data
(spans, workflow health, budget scopes, loads, quarantine) is in dbt models, not here.
"""
