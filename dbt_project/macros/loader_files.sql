{#- Reading the loader's own records, the dbt sources `lake.load_commits` and
    `quarantine.lines` (ingestion/files/loader.py writes both):

        lake/_loads/<load_id>.json   the commit record of a load: its summary, one JSON object
        quarantine/<name>.jsonl      one JSON object per rejected line; <name> is the load_id
                                     of a file load, `http-<time>_<random>` for the HTTP loader

    A file is complete once it has its name (it is written under a temporary name starting
    with '.', then renamed) and never changes after. So the staging models that read them are
    incremental on the file: each build reads only the files named in its list. A list
    without files reads as an empty relation of the same columns, as `lake_events()` does for
    an empty lake. Reading files is engine-specific: each macro dispatches per adapter
    (`duckdb__` below; another engine adds its own). -#}

{% macro quarantine_dir() -%}
    {{ return(data_dir() ~ '/quarantine') }}
{%- endmacro %}

{#- The commit records of `load_ids`: load_id, the loader's counts (NULL where an older
    record lacks one), seconds, and load_started_at, the UTC time the load id starts with
    (`L<%Y%m%dT%H%M%S%f>_<random>`, ingestion/files/loader.py's new_load_id). -#}
{% macro read_load_commits(source_relation, load_ids) -%}
    {{ return(adapter.dispatch('read_load_commits', 'agentops_warehouse')(
        source_relation, load_ids
    )) }}
{%- endmacro %}

{% macro duckdb__read_load_commits(source_relation, load_ids) -%}
    {%- set counts = [
        'files_seen', 'files_loaded', 'files_skipped', 'accepted', 'quarantined',
        'duplicates', 'conflicting_duplicates', 'conflicting_model_calls',
        'conflicting_run_completions', 'blank_lines', 'incomplete_lines', 'lake_files',
    ] -%}
    {%- if load_ids | length == 0 -%}
    (
        select
            cast(null as varchar) as load_id,
            {%- for c in counts %}
            cast(null as bigint) as {{ c }},
            {%- endfor %}
            cast(null as double) as seconds,
            cast(null as timestamptz) as load_started_at
        where false
    )
    {%- else -%}
    (
        select
            load_id,
            {%- for c in counts %}
            {{ c }},
            {%- endfor %}
            seconds,
            timezone('UTC', try_strptime(substr(load_id, 2, 21), '%Y%m%dT%H%M%S%f'))
                as load_started_at
        from read_json(
            [
                {%- for load_id in load_ids -%}
                '{{ lake_dir() }}/_loads/{{ load_id | replace("'", "''") }}.json'
                {{- ", " if not loop.last }}
                {%- endfor -%}
            ],
            format = 'auto',
            columns = {
                load_id: 'VARCHAR',
                {%- for c in counts %}
                {{ c }}: 'BIGINT',
                {%- endfor %}
                seconds: 'DOUBLE'
            }
        )
    )
    {%- endif -%}
{%- endmacro %}

{#- The names of the quarantine files a build may read: complete (not a temporary '.' file)
    and, for a file load's, of a load the registry `loads_relation` (stg_lake__loads) holds,
    so that lines of a load that never committed (its files are removed by the next load's
    recovery) or that commits during the build wait for a build that registers it. Without
    `exclude_relation`, every such file; with it, those not in its `quarantine_file` yet. -#}
{% macro quarantine_file_names(loads_relation, exclude_relation=none) -%}
    {{ return(adapter.dispatch('quarantine_file_names', 'agentops_warehouse')(
        loads_relation, exclude_relation
    )) }}
{%- endmacro %}

{% macro duckdb__quarantine_file_names(loads_relation, exclude_relation=none) -%}
    {%- if not lake_has_files(quarantine_dir() ~ '/*.jsonl') -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set names -%}
        select parse_filename(file) as quarantine_file
        from glob('{{ quarantine_dir() }}/*.jsonl')
        where not starts_with(parse_filename(file), '.')
            and (
                not starts_with(parse_filename(file), 'L')
                or parse_filename(file, true) in (select load_id from {{ loads_relation }})
            )
        {%- if exclude_relation is not none %}
            and parse_filename(file) not in (
                select quarantine_file from {{ exclude_relation }}
            )
        {%- endif %}
        order by 1
    {%- endset -%}
    {{ return(query_values(names)) }}
{%- endmacro %}

{#- The lines of the quarantine files `file_names`: the record's fields as the loader writes
    them, with the first of its errors taken apart, and the file's name. A line that is not
    a JSON object (never written by the loader) reads as NULLs rather than failing the build. -#}
{% macro read_quarantine_lines(source_relation, file_names) -%}
    {{ return(adapter.dispatch('read_quarantine_lines', 'agentops_warehouse')(
        source_relation, file_names
    )) }}
{%- endmacro %}

{% macro duckdb__read_quarantine_lines(source_relation, file_names) -%}
    {%- if file_names | length == 0 -%}
    (
        select
            cast(null as varchar) as quarantine_file,
            cast(null as varchar) as source,
            cast(null as bigint) as line_no,
            cast(null as varchar) as reason_code,
            cast(null as varchar) as errors,
            cast(null as bigint) as error_count,
            cast(null as varchar) as first_error_path,
            cast(null as varchar) as first_error_message,
            cast(null as varchar) as event_id,
            cast(null as varchar) as raw,
            cast(null as varchar) as raw_b64,
            cast(null as timestamptz) as quarantined_at
        where false
    )
    {%- else -%}
    (
        select
            parse_filename(filename) as quarantine_file,
            source,
            line_no,
            reason_code,
            cast(errors as varchar) as errors,
            cast(json_array_length(errors) as bigint) as error_count,
            json_extract_string(errors, '$[0].path') as first_error_path,
            json_extract_string(errors, '$[0].message') as first_error_message,
            event_id,
            raw,
            raw_b64,
            try_cast(quarantined_at as timestamptz) as quarantined_at
        from read_json(
            [
                {%- for name in file_names -%}
                '{{ quarantine_dir() }}/{{ name | replace("'", "''") }}'
                {{- ", " if not loop.last }}
                {%- endfor -%}
            ],
            format = 'newline_delimited',
            ignore_errors = true,
            -- a line holds at most one event (256 KiB by default, configurable) and its errors
            maximum_object_size = 67108864,
            filename = true,
            columns = {
                source: 'VARCHAR', line_no: 'BIGINT', reason_code: 'VARCHAR', errors: 'JSON',
                event_id: 'VARCHAR', raw: 'VARCHAR', raw_b64: 'VARCHAR',
                quarantined_at: 'VARCHAR'
            }
        )
    )
    {%- endif -%}
{%- endmacro %}

{#- Other adapters (Spark): the models that read these files are disabled there (their
    configs say so); these only let the project parse. -#}
{% macro default__read_load_commits(source_relation, load_ids) -%}
    {{ exceptions.raise_compiler_error("lake.load_commits is read on DuckDB only") if execute }}
{%- endmacro %}

{% macro default__quarantine_file_names(loads_relation, exclude_relation=none) -%}
    {{ return([]) }}
{%- endmacro %}

{% macro default__read_quarantine_lines(source_relation, file_names) -%}
    {{ exceptions.raise_compiler_error("quarantine.lines is read on DuckDB only") if execute }}
{%- endmacro %}
