{#- Every imported statement line, every import (history); none until the first import. -#}
with

source as (

    select * from {{ reference_statements(source('reference', 'statements')) }}

),

renamed as (

    -- Typed and normalised already by the import (ingestion/reference/statements.py).
    select
        statement_id,
        import_seq,
        imported_at,
        source_file,
        source_line,
        usage_date,
        provider,
        model,
        cast(amount_usd as decimal(38, 24)) as amount_usd

    from source

)

select * from renamed
