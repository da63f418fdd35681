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
    (`L<%Y%m%dT%H%M%S%f>_<random>`, ingestion/files/loader.py's new_load_id). The build lists
    the committed loads with their records before dbt starts
    (`reference/committed_loads.parquet`, ingestion/reference/model_refs.py), so every engine
    reads the same Parquet file; `source_relation` is the dbt source that documents it. -#}
{% macro read_load_commits(source_relation, load_ids) -%}
    (
        select
            load_id,
            files_seen, files_loaded, files_skipped, accepted, quarantined, duplicates,
            conflicting_duplicates, conflicting_model_calls, conflicting_run_completions,
            blank_lines, incomplete_lines, lake_files, seconds, load_started_at
        from {{ parquet_relation(data_dir() ~ '/reference/committed_loads.parquet') }}
        {%- if load_ids | length == 0 %}
        where false
        {%- else %}
        where load_id in ({{ sql_string_list(load_ids) }})
        {%- endif %}
    )
{%- endmacro %}

{#- The names of the quarantine files a build may read: complete ones, as the build listed
    them before dbt started (`reference/quarantine_files.parquet`), and, for a file load's, of
    a load the registry `loads_relation` (stg_lake__loads) holds, so that lines of a load that
    never committed (its files are removed by the next load's recovery) or that commits
    during the build wait for a build that registers it. Without `exclude_relation`, every
    such file; with it, those not in its `quarantine_file` yet. -#}
{% macro quarantine_file_names(loads_relation, exclude_relation=none) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set names -%}
        select quarantine_file
        from {{ parquet_relation(data_dir() ~ '/reference/quarantine_files.parquet') }}
        where (
                quarantine_file not like 'L%'
                or replace(quarantine_file, '.jsonl', '') in (
                    select load_id from {{ loads_relation }}
                )
            )
        {%- if exclude_relation is not none %}
            and quarantine_file not in (select quarantine_file from {{ exclude_relation }})
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

{#- Zero quarantined lines, with the columns and types of a read. -#}
{% macro quarantine_lines_empty() -%}
    {%- set s = dbt.type_string() -%}
    select
        cast(null as {{ s }}) as quarantine_file,
        cast(null as {{ s }}) as source,
        cast(null as bigint) as line_no,
        cast(null as {{ s }}) as reason_code,
        cast(null as {{ s }}) as errors,
        cast(null as bigint) as error_count,
        cast(null as {{ s }}) as first_error_path,
        cast(null as {{ s }}) as first_error_message,
        cast(null as {{ s }}) as event_id,
        cast(null as {{ s }}) as raw,
        cast(null as {{ s }}) as raw_b64,
        cast(null as {{ type_timestamptz() }}) as quarantined_at
    where false
{%- endmacro %}

{% macro duckdb__read_quarantine_lines(source_relation, file_names) -%}
    {%- if file_names | length == 0 -%}
    ({{ quarantine_lines_empty() }})
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

{#- Spark reads each line as text and parses it with the record's schema: its JSON reader
    would infer a schema per set of files (a field that no line of those files has would be
    missing). Hadoop's path glob names the files; past 200, the folder is read and filtered by
    file name. `errors` (an array) is kept as its JSON text, as DuckDB's cast does. -#}
{% macro spark__read_quarantine_lines(source_relation, file_names) -%}
    {%- if file_names | length == 0 -%}
    ({{ quarantine_lines_empty() }})
    {%- else -%}
    (
        select
            quarantine_file,
            line.source,
            line.line_no,
            line.reason_code,
            line.errors,
            cast(json_array_length(line.errors) as bigint) as error_count,
            get_json_object(line.errors, '$[0].path') as first_error_path,
            get_json_object(line.errors, '$[0].message') as first_error_message,
            line.event_id,
            line.raw,
            line.raw_b64,
            try_cast(line.quarantined_at as timestamp) as quarantined_at
        from (
            select
                regexp_extract(input_file_name(), '([^/]+)$', 1) as quarantine_file,
                from_json(
                    value,
                    'source string, line_no bigint, reason_code string, errors string, event_id string, raw string, raw_b64 string, quarantined_at string'
                ) as line
            {% if file_names | length <= 200 -%}
            from text.`{{ quarantine_dir() }}/{
                {%- for name in file_names %}{{ name }}{{ "," if not loop.last }}{% endfor -%}
            }`
            {%- else -%}
            from text.`{{ quarantine_dir() }}/*.jsonl`
            {%- endif %}
        )
        where quarantine_file in ({{ sql_string_list(file_names) }})
    )
    {%- endif -%}
{%- endmacro %}
