{#- The budgets of the budgets file, as every build wrote them (validated) under
    reference/; none until a build has written the file. -#}
with

source as (

    select * from {{ reference_budgets(source('reference', 'budgets')) }}

),

renamed as (

    -- Typed already: the build wrote REFERENCE_SCHEMA (ingestion/reference/budgets.py), and the empty
    -- relation of reference_budgets() has the same types.
    select
        budget_id,
        tenant_id,
        scope,
        scope_id,
        period,
        limit_usd,
        thresholds,
        enforcement,
        nullif(destination, '') as destination,
        source_line

    from source

)

select * from renamed
