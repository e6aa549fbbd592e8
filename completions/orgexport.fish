# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_orgexport_global_optspecs
    string join \n database-url= store= config= json q/quiet v/verbose h/help V/version
end

function __fish_orgexport_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_orgexport_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_orgexport_using_subcommand
    set -l cmd (__fish_orgexport_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c orgexport -n "__fish_orgexport_needs_command" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_needs_command" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_needs_command" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_needs_command" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_needs_command" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c orgexport -n "__fish_orgexport_needs_command" -s V -l version -d 'Print version'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "run" -d 'Export one or more orgs'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "plan" -d 'Show an org\'s scope: sections, how each is scoped, rows, excluded columns, warnings'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "list" -d 'Export history, newest first'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "link" -d 'Issue a fresh download link for a completed export (audited)'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "verify" -d 'Re-read an archive and check it against its manifest and sidecar'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "prune" -d 'Delete old archives from the store (their history rows are kept, marked pruned)'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "delete" -d 'Delete exports\' archives from the store now, by id (history rows kept, marked deleted; audited)'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "check" -d 'Test the database and store connections, privileges and link signing'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "restore" -d 'Load an archive into a database: relocate an org, undo a deletion, seed staging'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l org -d 'The org to export: its primary key, slug or name (repeatable)' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l link-ttl -d 'How long the printed download link is valid (default 15m or link_ttl in the config; at most 7d for presigned links)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l compression-level -d 'gzip level, 0 (store only) to 9 (smallest); default 2 (smaller than gzip -1\'s output at the speed the database delivers rows) or compression_level in the config' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l max-rows-per-table -d 'Write at most N rows per section (the manifest says capped and gives total_count)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l jobs -d 'Database sessions reading the export\'s one snapshot side by side, a section each at a time (default: the number of cores, at most 4); the archive is the same for every N' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l tables -d 'Only these sections (globs over schema.table; repeatable); scope still flows through every table' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l exclude-tables -d 'Leave these tables out entirely, as exclude_tables does (globs; repeatable)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l wait -d 'When another export of the org holds its lock, wait up to DURATION (default 1h) for it instead of exiting with code 4' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l on-complete -d 'After each org\'s export is recorded (completed or failed), run CMD: split into words as a shell would, run without a shell (write `sh -c \'…\'` for one), the outcome in ORGEXPORT_* variables and the --json entry on stdin; its failure never changes the export\'s status or exit code (or on_complete in the config)' -r -f -a "(__fish_complete_command)"
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l on-complete-timeout -d 'Kill the --on-complete command (its whole process group) after DURATION (default 60s or on_complete_timeout in the config)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l all-orgs -d 'Export every org of the root table, one after another'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l direct -d 'On Citus: read the org\'s shards on the worker that holds them (found in the coordinator\'s metadata; same credentials), keeping the coordinator out of the data path'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l org -d 'The org: its primary key, slug or name' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l tables -d 'Only these sections (globs over schema.table; repeatable); scope still flows through every table' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l exclude-tables -d 'Leave these tables out entirely, as exclude_tables does (globs; repeatable)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l estimate -d 'Row counts from pg_class.reltuples (whole tables, instant) instead of counting the org\'s rows in a snapshot'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l org -d 'Only this org (as recorded: its lookup or key)' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l status -d 'Only this status: pending, running, completed, failed, cancelled, pruned or deleted' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l limit -d 'At most N rows' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l ttl -d 'How long the link is valid (default 15m or link_ttl in the config)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l older-than -d 'Delete completed exports older than this (e.g. 30d)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l keep -d 'Keep the newest N completed exports of each org, delete the rest' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l org -d 'Only this org' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l dry-run -d 'List what would be deleted; delete nothing'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l dry-run -d 'Check and list what would be deleted; delete nothing'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l target-url -d 'The database to load into: a postgres:// URL or key=value conninfo (PG* variables fill what it leaves out, as for --database-url)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l fill -d 'A value for a column the archive does not hold (a NOT NULL secret): schema.table.column=SQL, evaluated per row; the column may be a glob (\'*.token=gen_random_uuid()::text\') (repeatable)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l fill-secrets -d 'Fill every NOT NULL secret column the archive lacks (and no --fill names) with a random value of its type' -r -f -a "random\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l max-value-bytes -d 'The largest manifest or row the archive may hold (e.g. 64MiB); a larger one is refused as it is read, never held in memory' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l dry-run -d 'Do everything, report what would happen, then roll back'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l remap-keys -d 'Give the org\'s integer keys (serial, identity, sequence defaults) fresh values from the target\'s sequences and rewrite every reference to them, so that the org can join a database that holds other orgs'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l allow-partial -d 'Restore an archive capped by --max-rows-per-table'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "run" -d 'Export one or more orgs'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "plan" -d 'Show an org\'s scope: sections, how each is scoped, rows, excluded columns, warnings'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "list" -d 'Export history, newest first'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "link" -d 'Issue a fresh download link for a completed export (audited)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "verify" -d 'Re-read an archive and check it against its manifest and sidecar'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "prune" -d 'Delete old archives from the store (their history rows are kept, marked pruned)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "delete" -d 'Delete exports\' archives from the store now, by id (history rows kept, marked deleted; audited)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "check" -d 'Test the database and store connections, privileges and link signing'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "restore" -d 'Load an archive into a database: relocate an org, undo a deletion, seed staging'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check restore completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
