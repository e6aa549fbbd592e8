# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_orgexport_global_optspecs
    string join \n database-url= history-url= store= config= json q/quiet v/verbose sse= sse-kms-key-id= h/help V/version
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
complete -c orgexport -n "__fish_orgexport_needs_command" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_needs_command" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_needs_command" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_needs_command" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_needs_command" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
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
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "setup" -d 'Create or upgrade the history schema (run once as its owner), or print the grants a least-privileged role needs'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "restore" -d 'Load an archive into a database: relocate an org, undo a deletion, seed staging'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "inspect" -d 'Print an archive\'s manifest: sections, rows, columns, exclusions (no database needed for a path or URL)'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "cat" -d 'Print one section\'s rows of an archive as NDJSON or CSV (no database needed for a path or URL)'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "diff" -d 'Compare two archives of the same org: sections, counts, rows added, removed and changed (by primary key)'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "orgs" -d 'List the orgs of the root table: key, lookup columns, name'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c orgexport -n "__fish_orgexport_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l org -d 'The org to export: its primary key, slug or name (repeatable)' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l link-ttl -d 'How long the printed download link is valid (default 15m or link_ttl in the config; at most 7d for presigned links)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l compression-level -d 'gzip level, 0 (store only) to 9 (smallest); default 1 (ISA-L\'s igzip: smaller than gzip -1\'s output at the speed the database delivers rows) or compression_level in the config' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l format -d 'The archive\'s layout: json (one gzipped orgexport/1 document), ndjson (gzipped JSON lines), csv or parquet (a tar.gz of manifest.json and one CSV or Parquet file per section); default json or format in the config' -r -f -a "json\t'One gzipped JSON document, `orgexport/1` (DESIGN §4)'
ndjson\t'Gzipped JSON lines: the manifest, then one line per row'
csv\t'A tar.gz bundle: `manifest.json`, then one RFC 4180 CSV file per section'
parquet\t'A tar.gz bundle: `manifest.json`, then one Parquet file per section'"
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l max-rows-per-table -d 'Write at most N rows per section (the manifest says capped and gives total_count)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l jobs -d 'Database sessions reading the export\'s one snapshot side by side, a section each at a time (default: the number of cores, at most 4); the archive is the same for every N' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l tables -d 'Only these sections (globs over schema.table; repeatable); scope still flows through every table' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l exclude-tables -d 'Leave these tables out entirely, as exclude_tables does (globs; repeatable)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l subject -d 'Only one person\'s data: their row of TABLE (by primary key), the org\'s rows that reference it, what those own, and the rows they reference (e.g. public.users=42)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l subject-email -d 'As --subject, the person found by e-mail in subject_table (or the one table with an e-mail column)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l since -d 'Only rows created since then, by each table\'s time column (time_columns, else created_at, inserted_at, createdAt, created, …): 30d, 2026-01-01 or an RFC 3339 time; tables without one whole, rows the kept rows reference always' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l until -d 'Only rows created before then (as --since)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l where -d 'Narrow a section by an SQL condition on its row t (repeatable): \'public.tasks: status <> $$done$$\'; rows it drops, and the rows they own, are not exported' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l columns -d 'Keep only these columns of a section (plus its keys; repeatable): \'public.users: id,name\'; a restore gives the others the target\'s defaults' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l encrypt-to -d 'Encrypt the archive with age to this recipient: an age1… public key (age-keygen) or an ssh-ed25519 / ssh-rsa public key (repeatable; replaces encrypt_to in the config). The archive becomes <id>.json.gz.age' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l recipients-file -d 'Encrypt to every recipient in FILE, one per line (# comments), as age -R reads it (repeatable)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l wait -d 'When another export of the org holds its lock, wait up to DURATION (default 1h) for it instead of exiting with code 4' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l on-complete -d 'After each org\'s export is recorded (completed or failed), run CMD: split into words as a shell would, run without a shell (write `sh -c \'…\'` for one), the outcome in ORGEXPORT_* variables and the --json entry on stdin; its failure never changes the export\'s status or exit code (or on_complete in the config)' -r -f -a "(__fish_complete_command)"
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l on-complete-timeout -d 'Kill the --on-complete command (its whole process group) after DURATION (default 60s or on_complete_timeout in the config)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l all-orgs -d 'Export every org of the root table, one after another'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l direct -d 'On Citus: read the org\'s shards on the worker that holds them (found in the coordinator\'s metadata; same credentials), keeping the coordinator out of the data path'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l org -d 'The org: its primary key, slug or name' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l tables -d 'Only these sections (globs over schema.table; repeatable); scope still flows through every table' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l exclude-tables -d 'Leave these tables out entirely, as exclude_tables does (globs; repeatable)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l subject -d 'Only one person\'s data: their row of TABLE (by primary key), the org\'s rows that reference it, what those own, and the rows they reference (e.g. public.users=42)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l subject-email -d 'As --subject, the person found by e-mail in subject_table (or the one table with an e-mail column)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l since -d 'Only rows created since then, by each table\'s time column (time_columns, else created_at, inserted_at, createdAt, created, …): 30d, 2026-01-01 or an RFC 3339 time; tables without one whole, rows the kept rows reference always' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l until -d 'Only rows created before then (as --since)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l where -d 'Narrow a section by an SQL condition on its row t (repeatable): \'public.tasks: status <> $$done$$\'; rows it drops, and the rows they own, are not exported' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l columns -d 'Keep only these columns of a section (plus its keys; repeatable): \'public.users: id,name\'; a restore gives the others the target\'s defaults' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l estimate -d 'Row counts from pg_class.reltuples (whole tables, instant) instead of counting the org\'s rows in a snapshot'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand plan" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l org -d 'Only this org (as recorded: its lookup or key)' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l status -d 'Only this status: pending, running, completed, failed, cancelled, pruned or deleted' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l limit -d 'At most N rows' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand list" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l ttl -d 'How long the link is valid (default 15m or link_ttl in the config)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand link" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l identity -d 'Decrypt an encrypted archive (<id>.json.gz.age) with this age identity file (age-keygen) or SSH private key (repeatable)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand verify" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l older-than -d 'Delete completed exports older than this (e.g. 30d)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l keep -d 'Keep the newest N completed exports of each org, delete the rest' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l org -d 'Only this org' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l dry-run -d 'List what would be deleted; delete nothing'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand prune" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l dry-run -d 'Check and list what would be deleted; delete nothing'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand delete" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand check" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l print-grants -d 'Print the GRANT statements that let ROLE run every command (USAGE and SELECT on the application\'s schemas, the history\'s tables and sequence); change nothing' -r -f
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand setup" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l target-url -d 'The database to load into: a postgres:// URL or key=value conninfo (PG* variables fill what it leaves out, as for --database-url)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l target-schema -d 'Schema-per-tenant: restore the tenant\'s schema into this tenant schema of the target (its tables must exist, e.g. created by the app\'s migrations) instead of the one it was exported from' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l fill -d 'A value for a column the archive does not hold (a NOT NULL secret): schema.table.column=SQL, evaluated per row; the column may be a glob (\'*.token=gen_random_uuid()::text\') (repeatable)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l fill-secrets -d 'Fill every NOT NULL secret column the archive lacks (and no --fill names) with a random value of its type' -r -f -a "random\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l max-value-bytes -d 'The largest manifest or row the archive may hold (e.g. 64MiB); a larger one is refused as it is read, never held in memory' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l identity -d 'Decrypt an encrypted archive (<id>.json.gz.age) with this age identity file (age-keygen) or SSH private key (repeatable)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l dry-run -d 'Do everything, report what would happen, then roll back'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l remap-keys -d 'Give the org\'s integer keys (serial, identity, sequence defaults) fresh values from the target\'s sequences and rewrite every reference to them, so that the org can join a database that holds other orgs'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l allow-partial -d 'Restore an archive capped by --max-rows-per-table'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand restore" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l section -d 'The section to print (schema.table, as `orgexport inspect` lists them)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l format -d 'ndjson (one JSON object per line) or csv (header row; NULL is an empty unquoted field, an empty string is "")' -r -f -a "ndjson\t'One JSON object per line, exactly as archived'
csv\t'RFC 4180 with a header row; NULL is an empty unquoted field, \'\' is ""'"
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand cat" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand diff" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l limit -d 'At most N orgs, in key order' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand orgs" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l database-url -d 'PostgreSQL connection URL (postgres://user@host:port/db?sslmode=…); else the PG* variables' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l history-url -d 'The database that holds the export history, the audit log and the org locks (default: the --database-url one); a primary, so that exports can read a hot standby' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l store -d 'Where archives go: s3://bucket/prefix, gs://bucket/prefix, az://container/prefix, a directory or file:///abs/dir (default ./orgexports)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l config -d 'TOML configuration file (default ./orgexport.toml when present)' -r -F
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l sse -d 'S3 server-side encryption of uploaded objects: AES256 (SSE-S3), aws:kms (SSE-KMS) or aws:kms:dsse (s3:// stores only; the bucket\'s default applies otherwise)' -r -f -a "AES256\t''
aws:kms\t''
aws:kms:dsse\t''"
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l sse-kms-key-id -d 'The KMS key (id, ARN or alias) for --sse aws:kms (default: the account\'s aws/s3 key)' -r
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -l json -d 'Print one JSON object on stdout and nothing else there'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -s v -l verbose -d 'More detail on stderr (the generated SQL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand completions" -s h -l help -d 'Print help'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "run" -d 'Export one or more orgs'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "plan" -d 'Show an org\'s scope: sections, how each is scoped, rows, excluded columns, warnings'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "list" -d 'Export history, newest first'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "link" -d 'Issue a fresh download link for a completed export (audited)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "verify" -d 'Re-read an archive and check it against its manifest and sidecar'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "prune" -d 'Delete old archives from the store (their history rows are kept, marked pruned)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "delete" -d 'Delete exports\' archives from the store now, by id (history rows kept, marked deleted; audited)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "check" -d 'Test the database and store connections, privileges and link signing'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "setup" -d 'Create or upgrade the history schema (run once as its owner), or print the grants a least-privileged role needs'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "restore" -d 'Load an archive into a database: relocate an org, undo a deletion, seed staging'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "inspect" -d 'Print an archive\'s manifest: sections, rows, columns, exclusions (no database needed for a path or URL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "cat" -d 'Print one section\'s rows of an archive as NDJSON or CSV (no database needed for a path or URL)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "diff" -d 'Compare two archives of the same org: sections, counts, rows added, removed and changed (by primary key)'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "orgs" -d 'List the orgs of the root table: key, lookup columns, name'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c orgexport -n "__fish_orgexport_using_subcommand help; and not __fish_seen_subcommand_from run plan list link verify prune delete check setup restore inspect cat diff orgs completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
