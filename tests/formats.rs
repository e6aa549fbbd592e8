//! The archive formats beside JSON (`--format ndjson|csv|parquet`), read by the tools people
//! use: jq and Python for NDJSON, Python's `csv`/`tarfile` and DuckDB's `read_csv` for the CSV
//! bundle, pyarrow and DuckDB's `read_parquet` for the Parquet bundle (the tools come from
//! scripts/test.sh). Values that trip CSV up — NULL next to
//! empty strings, quotes, line breaks, non-ASCII, formula-like text, json, arrays,
//! composites, bytea, timestamps, exact numerics — are checked against PostgreSQL, and the
//! restore of each format gives the source's rows back. The round trip on every fixture is
//! tests/roundtrip.rs's.

mod support;

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use support::{Archive, Expect, Orgexport, TempDir, TestDb};

const TRICKY: &str = r#"
CREATE TYPE mood AS (name text, level int);
CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
INSERT INTO orgs VALUES (1, 'acme'), (2, 'other');
CREATE TABLE things (
  id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
  t text, v varchar(40), j jsonb, js json, arr integer[], tarr text[], m mood,
  ts timestamptz, tsl timestamp, n numeric, nn numeric(30,10), b bytea, d date, u uuid,
  f float8, flag boolean, iv interval);
INSERT INTO things VALUES
 (1, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (2, 1, '', '', '""', '""', '{}', '{}', ROW('', 0), '2000-01-01 00:00:00+00', '2000-01-01', 0, 0, '\x', '2000-01-01',
  '00000000-0000-0000-0000-000000000000', 0, false, '0'),
 (3, 1, '=1+1', '+1', '{"a": [1, "x,y"], "b": null}', '{"k" : "v"}', '{1,NULL,3}', '{"a,b","c\"d",NULL}',
  ROW('a,"b"', -1), '2024-02-29 23:59:59.123456+02', '1999-12-31 23:59:59.5', '12345678901234567890.1234567890123',
  '-0.0000000001', '\xdeadbeef00', '2024-02-29', '123e4567-e89b-12d3-a456-426614174000', 1.5e300, true, '-1 day 02:00'),
 (4, 1, '-5', '@mention', 'null', 'null', '{}', '{""}', ROW(NULL, NULL), '0044-03-15 12:00:00+00 BC', 'infinity', 'NaN',
  '1.5', '\x00', '0001-01-01', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '-Infinity', true, '1 year 2 mons'),
 (5, 1, E'line1\nline2 "quoted", comma\r\nend', '''apostrophe', '"str"', '[]', '{-1}', '{" "}', ROW(E'x\ny', 1),
  '2038-01-19 03:14:08+00', '2038-01-19 03:14:08', '-7', '99999999999999999999.9999999999', '\x0a0d22', '9999-12-31',
  '00000000-0000-0000-0000-000000000001', -0.0, false, '00:00:01'),
 (6, 1, 'non-ASCII: ü 日本 😀', E'\ttab', '{"ü": "😀"}', '"\u00e9"', '{7}', '{"日本"}', ROW('😀', 2),
  'infinity', '-infinity', 'Infinity', '3', '\xff', '2024-01-01', '123e4567-e89b-12d3-a456-426614174001', 2.5, true, '-00:00:01'),
 (7, 2, 'SECRET-OTHER-ORG', 'SECRET-OTHER-ORG', '"SECRET-OTHER-ORG"', '1', NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL);
"#;

/// The Python of the test tools (duckdb, pyarrow), installed by scripts/test.sh.
fn python() -> PathBuf {
    let home = std::env::var("HOME").unwrap();
    let python = Path::new(&home).join(".cache/orgexport-test-tools/pydata/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh once (it installs duckdb for these tests)",
        python.display()
    );
    python
}

/// Runs a Python script with `args`; its stdout is one JSON value.
fn run_python(script: &str, args: &[&str]) -> Value {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tricky_db() -> TestDb {
    let db = TestDb::new();
    db.execute(TRICKY);
    db
}

fn export(db: &TestDb, store: &TempDir, format: &str) -> PathBuf {
    Archive::path_from_run(
        &Orgexport::export(db, store, "acme")
            .args(["--format", format])
            .run(),
    )
}

/// What every bundle reader starts with: the bundle extracted by Python's `tarfile` into
/// `out`, its member names and the manifest, a DuckDB connection in UTC, and `checked`.
const EXTRACT_BUNDLE: &str = r#"
import duckdb, hashlib, json, sys, tarfile
bundle, out = sys.argv[1], sys.argv[2]
with tarfile.open(bundle, "r:gz") as tar:
    names = tar.getnames()
    tar.extractall(out, filter="data")
manifest = json.load(open(f"{out}/manifest.json"))
result = {"names": names, "sections": {}}
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
def checked(s):
    """A section's extracted file, its size and SHA-256 the manifest's."""
    path = f"{out}/{s['file']['path']}"
    data = open(path, "rb").read()
    assert len(data) == s["file"]["bytes"] and hashlib.sha256(data).hexdigest() == s["file"]["sha256"], path
    return path, data
"#;

/// Exports the org as a `format` bundle, extracts it and reads it with the Python `script`.
fn export_and_read(db: &TestDb, store: &TempDir, format: &str, script: &str) -> (PathBuf, Value) {
    let bundle = export(db, store, format);
    let name = bundle.to_string_lossy().to_string();
    assert!(name.ends_with(&format!(".{format}.tar.gz")), "{name}");
    let out = TempDir::new();
    let script = format!("{EXTRACT_BUNDLE}{script}");
    let read = run_python(&script, &[&name, out.path().to_str().unwrap()]);
    (bundle, read)
}

/// The org's rows of `things` in `db`, each as PostgreSQL's text of the whole row.
fn things(db: &TestDb) -> Vec<Value> {
    db.json_rows("SELECT t::text AS row FROM things t WHERE org_id = 1 ORDER BY id")
}

/// Restores `archive` into an empty copy of the schema and returns it.
fn restore(db: &TestDb, store: &TempDir, archive: &Path) -> TestDb {
    let target = db.schema_copy();
    Orgexport::new()
        .current_dir(store.path())
        .arg("restore")
        .arg(archive)
        .args(["--target-url", &target.url])
        .run();
    target
}

/// Extracts the bundle with Python's `tarfile`, checks each file against the manifest's size
/// and SHA-256, reads every CSV with the `csv` module and opens every file with DuckDB's
/// `read_csv`, typed by the manifest.
const READ_BUNDLE: &str = r#"
import csv
def duck(t):
    if t.startswith("numeric(") and int(t[8:].split(",")[0]) <= 38:
        return "DECIMAL(" + t[8:]
    return {"bigint": "BIGINT", "integer": "INTEGER", "boolean": "BOOLEAN", "double precision": "DOUBLE",
            "date": "DATE", "uuid": "UUID", "timestamp with time zone": "TIMESTAMPTZ",
            "timestamp without time zone": "TIMESTAMP", "jsonb": "JSON", "json": "JSON"}.get(t, "VARCHAR")
for s in manifest["sections"]:
    path, data = checked(s)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    columns = {c["name"]: duck(c["type"]) for c in s["columns"]}
    # Every column parsed as its type, then shown as text.
    rel = con.execute("SELECT COLUMNS(*)::VARCHAR FROM read_csv(?, header = true, auto_detect = false, allow_quoted_nulls = false, columns = ?)",
                      [path, columns])
    typed = rel.fetchall()
    result["sections"][s["name"]] = {"header": rows[0], "rows": len(rows) - 1, "duckdb_rows": len(typed),
                                     "record_count": s["record_count"]}
things = f"{out}/public.things.csv"
cols = {c["name"]: duck(c["type"]) for s in manifest["sections"] if s["name"] == "public.things" for c in s["columns"]}
q = """SELECT id, t IS NULL, t, v, j::VARCHAR, arr, m, epoch_us(ts), n, nn::VARCHAR, b, d::VARCHAR, u::VARCHAR, flag
       FROM read_csv(?, header = true, auto_detect = false, allow_quoted_nulls = false, columns = ?) ORDER BY id"""
result["things"] = [[None if v is None else str(v) for v in r] for r in con.execute(q, [things, cols]).fetchall()]
result["raw"] = open(things, encoding="utf-8", newline="").read()
print(json.dumps(result))
"#;

#[test]
fn csv_bundle_opens_in_python_and_duckdb_with_every_value_spelled_out() {
    let (db, store) = (tricky_db(), TempDir::new());
    let (bundle, read) = export_and_read(&db, &store, "csv", READ_BUNDLE);
    assert_eq!(
        read["names"][0], "manifest.json",
        "the manifest comes first"
    );
    for (name, s) in read["sections"].as_object().unwrap() {
        assert_eq!(s["rows"], s["record_count"], "{name}: csv module rows");
        assert_eq!(s["duckdb_rows"], s["record_count"], "{name}: DuckDB rows");
    }
    let header = &read["sections"]["public.things"]["header"];
    assert_eq!(header[0], "id");
    assert_eq!(header.as_array().unwrap().len(), 19);
    let raw = read["raw"].as_str().unwrap();
    assert!(!raw.contains("SECRET-OTHER-ORG"), "another org's row");
    // NULL is an unquoted empty field, the empty string "".
    assert!(raw.contains("\r\n1,1,,,,,,,,,,,,,,,,,\r\n"), "{raw}");
    assert!(
        raw.contains("\r\n2,1,\"\",\"\",\"\"\"\"\"\",\"\"\"\"\"\",[],[],\"{\"\"name\"\":\"\"\"\",\"\"level\"\":0}\","),
        "{raw}"
    );
    let row = |id: usize| -> Vec<Option<String>> {
        serde_json::from_value(read["things"][id - 1].clone()).unwrap()
    };
    let text = |s: &str| Some(s.to_string());
    // id, t IS NULL, t, v, j, arr, m, ts (µs), n, nn, b, d, u, flag
    assert_eq!(row(1)[1..4], [text("True"), None, None]);
    assert_eq!(row(2)[1..4], [text("False"), text(""), text("")]);
    // Formula-like text is guarded with a ' (and a leading ' doubled).
    assert_eq!(row(3)[2..4], [text("'=1+1"), text("'+1")]);
    assert_eq!(row(4)[2..4], [text("'-5"), text("'@mention")]);
    assert_eq!(
        row(5)[2..4],
        [
            text("line1\nline2 \"quoted\", comma\r\nend"),
            text("''apostrophe")
        ]
    );
    assert_eq!(row(6)[2..4], [text("non-ASCII: ü 日本 😀"), text("'\ttab")]);
    // json as JSON text, arrays and composites as to_json's JSON.
    assert_eq!(row(3)[4], text(r#"{"a": [1, "x,y"], "b": null}"#));
    assert_eq!(row(4)[4], text("null"));
    assert_eq!(row(3)[5], text("[1,null,3]"));
    assert_eq!(row(3)[6], text(r#"{"name":"a,\"b\"","level":-1}"#));
    // Timestamps ISO 8601 with offset: DuckDB reads the same instant as PostgreSQL.
    let micros = db.scalar_text(
        "SELECT (extract(epoch FROM ts) * 1000000)::bigint::text FROM things WHERE id = 3",
    );
    assert_eq!(row(3)[7], micros);
    // Numerics exact, bytea as \x hex, dates, uuids, booleans.
    assert_eq!(row(3)[8], text("12345678901234567890.1234567890123"));
    assert_eq!(row(3)[9], text("-0.0000000001"));
    assert_eq!(row(4)[8], text("NaN"));
    assert_eq!(row(3)[10], text("\\xdeadbeef00"));
    assert_eq!(row(2)[10], text("\\x"));
    assert_eq!(row(3)[11], text("2024-02-29"));
    assert_eq!(row(3)[12], text("123e4567-e89b-12d3-a456-426614174000"));
    assert_eq!(row(3)[13], text("True"));
    // The restore undoes every convention: the rows are the source's.
    let target = restore(&db, &store, &bundle);
    assert_eq!(things(&target), things(&db));
}

/// Extracts the Parquet bundle, checks each file against the manifest's size and SHA-256,
/// opens every file with pyarrow and DuckDB's `read_parquet`, and gives the values of
/// `things` as each tool reads them (timestamps and dates as their stored integers, so that
/// the infinities and BC dates are compared too).
const READ_PARQUET: &str = r#"
import pyarrow as pa, pyarrow.parquet as pq
for s in manifest["sections"]:
    path, data = checked(s)
    table = pq.read_table(path)
    duck = con.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchone()[0]
    result["sections"][s["name"]] = {"columns": table.column_names, "rows": table.num_rows,
        "duckdb_rows": duck, "record_count": s["record_count"],
        "types": {f.name: str(f.type) for f in table.schema}}
    result.setdefault("raw", []).append(data.hex())
things = f"{out}/public.things.parquet"
t = pq.read_table(things)
def val(v):
    if v is None: return None
    if isinstance(v, bytes): return v.hex()
    if isinstance(v, float): return repr(v)
    if isinstance(v, list): return [val(x) for x in v]
    if hasattr(v, "hex") and not isinstance(v, (int, str)): return v.hex
    return v if isinstance(v, (str, bool, int)) else str(v)
columns = []
for name in t.column_names:
    col = t.column(name)
    if pa.types.is_timestamp(col.type): col = col.cast(pa.int64())
    if pa.types.is_date32(col.type): col = col.cast(pa.int32())
    columns.append([val(v) for v in col.to_pylist()])
result["pyarrow"] = [list(r) for r in zip(*columns)]
q = """SELECT id, nn::VARCHAR, u::VARCHAR, d::VARCHAR, ts::VARCHAR, arr, tarr, j, flag
       FROM read_parquet(?) ORDER BY id"""
result["duckdb"] = [[None if v is None else (v if isinstance(v, (list, bool, int)) else str(v)) for v in r]
                    for r in con.execute(q, [things]).fetchall()]
print(json.dumps(result))
"#;

#[test]
fn parquet_bundle_opens_in_pyarrow_and_duckdb_typed_as_postgresql() {
    let (db, store) = (tricky_db(), TempDir::new());
    let (bundle, read) = export_and_read(&db, &store, "parquet", READ_PARQUET);
    assert_eq!(read["names"][0], "manifest.json", "the manifest first");
    for (name, s) in read["sections"].as_object().unwrap() {
        assert_eq!(s["rows"], s["record_count"], "{name}: pyarrow rows");
        assert_eq!(s["duckdb_rows"], s["record_count"], "{name}: DuckDB rows");
    }
    for raw in read["raw"].as_array().unwrap() {
        let bytes = hex::decode(raw.as_str().unwrap()).unwrap();
        assert!(
            !bytes.windows(16).any(|w| w == b"SECRET-OTHER-ORG"),
            "another org's row in a Parquet file"
        );
    }
    // The types, as pyarrow names them.
    let types = &read["sections"]["public.things"]["types"];
    let expected = [
        ("id", "int64"),
        ("t", "string"),
        ("v", "string"),
        ("j", "string"),
        ("arr", "list<element: int32>"),
        ("tarr", "list<element: string>"),
        ("m", "string"),
        ("ts", "timestamp[us, tz=UTC]"),
        ("tsl", "timestamp[us]"),
        ("n", "string"),
        ("nn", "decimal128(30, 10)"),
        ("b", "binary"),
        ("d", "date32[day]"),
        ("f", "double"),
        ("flag", "bool"),
        ("iv", "string"),
    ];
    for (column, ty) in expected {
        assert_eq!(types[column], ty, "{column}: {types}");
    }
    assert!(
        types["u"].as_str().unwrap().contains("uuid") || types["u"] == "fixed_size_binary[16]",
        "{types}"
    );
    // Every value as pyarrow reads it, against independent SQL.
    let expected = db.json_rows(
        "SELECT json_build_array(id, org_id, t, v, j::text, js::text, arr, tarr, to_json(m)::text,
           CASE ts WHEN 'infinity' THEN 9223372036854775807 WHEN '-infinity' THEN -9223372036854775807
                   ELSE (extract(epoch FROM ts) * 1000000)::bigint END,
           CASE tsl WHEN 'infinity' THEN 9223372036854775807 WHEN '-infinity' THEN -9223372036854775807
                   ELSE (extract(epoch FROM tsl) * 1000000)::bigint END,
           n::text, NULL, encode(b, 'hex'),
           CASE d WHEN 'infinity' THEN 2147483647 WHEN '-infinity' THEN -2147483647
                  ELSE d - '1970-01-01'::date END,
           replace(u::text, '-', ''), f::text, flag, to_json(iv)::text) AS r
         FROM things WHERE org_id = 1 ORDER BY id",
    );
    let pyarrow = read["pyarrow"].as_array().unwrap();
    assert_eq!(pyarrow.len(), expected.len());
    for (got, want) in pyarrow.iter().zip(&expected) {
        let (got, want) = (got.as_array().unwrap(), want["r"].as_array().unwrap());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            match i {
                // decimals: DuckDB's text below.
                12 => continue,
                // floats: Python's repr against PostgreSQL's text, as numbers.
                16 if !w.is_null() => {
                    let float = |v: &Value| v.as_str().unwrap().parse::<f64>().unwrap();
                    let (g, w) = (float(g), float(w));
                    assert!(
                        g.to_bits() == w.to_bits() || g.is_nan() && w.is_nan(),
                        "{g} {w}"
                    );
                }
                _ => assert_eq!(g, w, "column {i} of {want:?}"),
            }
        }
    }
    // DuckDB: decimals exact, uuids, dates, timestamps (infinity too), lists, json text.
    let duck = &read["duckdb"];
    let pg = db.json_rows(
        "SELECT json_build_array(id, nn::text, u::text, d::text, ts::text, arr, tarr, j::text, flag) AS r
         FROM things WHERE org_id = 1 ORDER BY id",
    );
    for (row, want) in duck.as_array().unwrap().iter().zip(&pg) {
        let want = want["r"].as_array().unwrap();
        for i in [0, 1, 2, 3, 5, 6, 7, 8] {
            assert_eq!(row[i], want[i], "column {i} of {want:?}");
        }
    }
    assert_eq!(duck[2][4], "2024-02-29 21:59:59.123456+00");
    assert_eq!(duck[5][4], "infinity");
    // verify, cat and restore read it back: the rows are the source's.
    Orgexport::on(&db, &store, &["verify", bundle.to_str().unwrap()]).run();
    let json = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    let cat = Orgexport::new()
        .args([
            "cat",
            bundle.to_str().unwrap(),
            "--section",
            "public.things",
        ])
        .run();
    let cat: Vec<Value> = cat
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        cat, json.sections["public.things"],
        "cat equals the JSON archive's rows"
    );
    let target = restore(&db, &store, &bundle);
    assert_eq!(things(&target), things(&db));
    // A damaged file whose digest the manifest was made to match: the Parquet reader's
    // failure, named, is the verdict.
    let damaged = store.path().join("damaged.parquet.tar.gz");
    run_python(
        DAMAGE_PARQUET,
        &[bundle.to_str().unwrap(), damaged.to_str().unwrap()],
    );
    Orgexport::on(&db, &store, &["verify", damaged.to_str().unwrap()])
        .code(1)
        .one_error_line()
        .stderr_has("the Parquet file of section public.things is not readable")
        .run();
}

/// Rewrites a Parquet bundle with `public.things.parquet`'s footer length damaged and the
/// manifest's size and digest made to match.
const DAMAGE_PARQUET: &str = r#"
import hashlib, io, json, sys, tarfile
source, target = sys.argv[1], sys.argv[2]
with tarfile.open(source, "r:gz") as tar:
    files = [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]
files = dict(files)
data = bytearray(files["public.things.parquet"])
data[-8:-4] = (len(data) * 2).to_bytes(4, "little")
files["public.things.parquet"] = bytes(data)
manifest = json.loads(files["manifest.json"])
for s in manifest["sections"]:
    if s["name"] == "public.things":
        s["file"]["bytes"], s["file"]["sha256"] = len(data), hashlib.sha256(data).hexdigest()
files["manifest.json"] = json.dumps(manifest).encode()
with tarfile.open(target, "w:gz", format=tarfile.GNU_FORMAT) as tar:
    for name, body in files.items():
        info = tarfile.TarInfo(name)
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
print("{}")
"#;

/// Arrays declared with several dimensions are JSON text; a 2-D value in a column declared
/// one-dimensional (PostgreSQL does not enforce it) cannot be a Parquet list, nor NaN a
/// DECIMAL: the export fails naming the column and the ways out, and leaves no archive.
/// Secret columns and json keys stay out of the Parquet file, as out of every format.
#[test]
fn parquet_lists_are_the_one_dimensional_arrays_and_what_cannot_be_written_is_named() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
         INSERT INTO orgs VALUES (1, 'acme');
         CREATE TABLE grids (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                             flat int[], square int[][], words text[][],
                             api_token text, settings jsonb);
         INSERT INTO grids VALUES (1, 1, '{1,2}', '{{1,2},{3,4}}', '{{a,b},{c,NULL}}',
                                   'SECRET-TOKEN-MARKER', '{\"password\": \"SECRET-JSON-MARKER\", \"k\": 1}'),
                                  (2, 1, '{}', '{5}', NULL, NULL, NULL);",
    );
    let store = TempDir::new();
    // Parquet types values from the binary COPY, whatever `render` says.
    std::fs::write(store.path().join("orgexport.toml"), "render = \"server\"\n").unwrap();
    let bundle = export(&db, &store, "parquet");
    // A secret column and a json secret key are left out of the Parquet file too.
    let mut bytes = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&bundle).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    for marker in ["SECRET-TOKEN-MARKER", "SECRET-JSON-MARKER"] {
        assert!(
            !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()),
            "{marker}"
        );
    }
    assert!(bytes.windows(8).any(|w| w == b"settings"));
    let target = restore(&db, &store, &bundle);
    let rows = "SELECT id, flat::text, square::text, words::text, settings->'k' AS k FROM grids ORDER BY id";
    assert_eq!(target.json_rows(rows), db.json_rows(rows));
    db.execute("INSERT INTO grids VALUES (3, 1, '{{1},{2}}', NULL, NULL)");
    let before = store.files();
    Orgexport::export(&db, &store, "acme")
        .args(["--format", "parquet"])
        .code(1)
        .one_error_line()
        .stderr_has("column flat: a multi-dimensional array in a column declared one-dimensional")
        .stderr_has("exclude_columns")
        .run();
    assert_eq!(store.files(), before, "no archive left behind");
    db.execute(
        "DELETE FROM grids WHERE id = 3;
         CREATE TABLE prices (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                              amount numeric(8,2));
         INSERT INTO prices VALUES (1, 1, 'NaN');",
    );
    Orgexport::export(&db, &store, "acme")
        .args(["--format", "parquet"])
        .code(1)
        .one_error_line()
        .stderr_has("column amount: \"NaN\" in a numeric(p,s) column")
        .run();
    assert_eq!(store.files(), before, "no archive left behind");
}

#[test]
fn ndjson_streams_line_by_line_through_jq_and_python() {
    let db = tricky_db();
    let store = TempDir::new();
    let json = Archive::from_run(&Orgexport::export(&db, &store, "acme").run());
    let lines = export(&db, &store, "ndjson");
    assert!(lines.to_string_lossy().ends_with(".ndjson.gz"));
    // Line by line, as any consumer reads it: the manifest, then the rows of the JSON
    // archive, value for value, in its order.
    let mut reader = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
        std::fs::File::open(&lines).unwrap(),
    ));
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    let manifest: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(manifest["format"], "orgexport/1");
    assert_eq!(manifest["archive_format"], "ndjson");
    assert_eq!(manifest["sections"], json.manifest["sections"]);
    let mut rows: Vec<(String, Value)> = Vec::new();
    for line in reader.lines() {
        let line: Value = serde_json::from_str(&line.unwrap()).unwrap();
        rows.push((
            line["section"].as_str().unwrap().into(),
            line["row"].clone(),
        ));
    }
    let expected: Vec<(String, Value)> = json
        .section_order
        .iter()
        .flat_map(|s| json.sections[s].iter().map(move |r| (s.clone(), r.clone())))
        .collect();
    assert_eq!(rows, expected);
    // jq: one section's rows.
    let jq = Command::new("sh")
        .arg("-c")
        .arg("gzip -dc \"$0\" | jq -c 'select(.section == \"public.things\") | .row.t'")
        .arg(&lines)
        .output()
        .unwrap();
    assert!(jq.status.success());
    let texts: Vec<Value> = String::from_utf8(jq.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let expected: Vec<Value> = json.sections["public.things"]
        .iter()
        .map(|r| r["t"].clone())
        .collect();
    assert_eq!(texts, expected);
    // Python: the rows per section, streamed, against the manifest's counts.
    let counted = run_python(
        r#"
import gzip, json, sys
counts = {}
with gzip.open(sys.argv[1], "rt", encoding="utf-8") as f:
    manifest = json.loads(next(f))
    for line in f:
        counts[json.loads(line)["section"]] = counts.get(json.loads(line)["section"], 0) + 1
print(json.dumps({"manifest": {s["name"]: s["record_count"] for s in manifest["sections"]}, "counted": counts}))
"#,
        &[lines.to_str().unwrap()],
    );
    for (name, count) in counted["manifest"].as_object().unwrap() {
        assert_eq!(
            counted["counted"].get(name).unwrap_or(&0.into()),
            count,
            "{name}"
        );
    }
    let target = restore(&db, &store, &lines);
    assert_eq!(things(&target), things(&db));
}

/// Rewrites the gzip stream of `path` with `change` applied to the decompressed bytes.
fn tamper(path: &Path, copy: &Path, change: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let mut data = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut data)
        .unwrap();
    let mut encoder =
        flate2::write::GzEncoder::new(std::fs::File::create(copy).unwrap(), Default::default());
    std::io::Write::write_all(&mut encoder, &change(data)).unwrap();
    encoder.finish().unwrap();
}

/// `data` with the first `from` replaced by `to` (bytes: a Parquet file is binary).
fn replace(mut data: Vec<u8>, from: &str, to: &str) -> Vec<u8> {
    let at = data
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from}"));
    data.splice(at..at + from.len(), to.bytes());
    data
}

#[test]
fn verify_checks_each_format_against_its_manifest() {
    let db = tricky_db();
    let store = TempDir::new();
    for (format, ext) in [
        ("ndjson", ".ndjson.gz"),
        ("csv", ".csv.tar.gz"),
        ("parquet", ".parquet.tar.gz"),
    ] {
        // Two readers: sections from two spools, put in manifest order.
        let archive = Archive::path_from_run(
            &Orgexport::export(&db, &store, "acme")
                .args(["--format", format, "--jobs", "2"])
                .run(),
        );
        let verified = Orgexport::on(
            &db,
            &store,
            &["verify", archive.to_str().unwrap(), "--json"],
        )
        .run()
        .json();
        assert_eq!(verified["ok"], true, "{verified}");
        assert_eq!(verified["records"], 7, "{format}: 6 things and the org");
        let copy = archive.with_file_name(format!("copy{ext}"));
        let check_bad = |change: Box<dyn FnOnce(Vec<u8>) -> Vec<u8>>, expect: &str| {
            tamper(&archive, &copy, change);
            Orgexport::on(&db, &store, &["verify", copy.to_str().unwrap()])
                .code(1)
                .one_error_line()
                .stderr_has(expect)
                .run();
        };
        if format == "ndjson" {
            check_bad(
                Box::new(|d| {
                    replace(
                        d,
                        "\"section\":\"public.things\"",
                        "\"section\":\"public.nope\"",
                    )
                }),
                "rows of section public.nope, which the manifest does not list",
            );
            check_bad(
                Box::new(|mut d| {
                    let end = d[..d.len() - 1].iter().rposition(|&b| b == b'\n').unwrap();
                    d.truncate(end + 1);
                    d
                }),
                "section public.things holds 5 rows, the manifest says 6",
            );
        } else {
            // Same length, another value: the file's digest no longer matches.
            let (from, to) = match format {
                "csv" => ("'@mention", "'@mentioN"),
                _ => ("@mention", "@mentioN"),
            };
            check_bad(
                Box::new(move |d| replace(d, from, to)),
                &format!("public.things.{format} is not the file the manifest describes"),
            );
        }
    }
}

#[test]
fn an_unknown_format_is_refused_before_anything_runs() {
    let db = tricky_db();
    let store = TempDir::new();
    std::fs::write(store.path().join("orgexport.toml"), "format = \"xlsx\"\n").unwrap();
    Orgexport::export(&db, &store, "acme")
        .code(2)
        .one_error_line()
        .stderr_has("line 1: format = \"xlsx\"; use \"json\", \"ndjson\", \"csv\" or \"parquet\"")
        .run();
    Orgexport::export(&db, &store, "acme")
        .args(["--format", "xlsx"])
        .code(2)
        .stderr_has("xlsx")
        .run();
    assert_eq!(store.files(), ["orgexport.toml"]);
    // The config's format, and the flag over it.
    std::fs::write(store.path().join("orgexport.toml"), "format = \"ndjson\"\n").unwrap();
    let path = Archive::path_from_run(&Orgexport::export(&db, &store, "acme").run());
    assert!(path.to_string_lossy().ends_with(".ndjson.gz"));
    let path = Archive::path_from_run(
        &Orgexport::export(&db, &store, "acme")
            .args(["--format", "json"])
            .run(),
    );
    assert!(path.to_string_lossy().ends_with(".json.gz"));
    let list = Orgexport::on(&db, &store, &["list", "--json"]).run().json();
    let formats: Vec<&str> = list["exports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["format"].as_str().unwrap())
        .collect();
    assert_eq!(formats, ["json", "ndjson"], "newest first");
    let sidecar: Value = serde_json::from_slice(
        &std::fs::read(
            path.with_file_name(
                path.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace(".json.gz", ".manifest.json"),
            ),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(sidecar["archive"]["format"], "json");
}

/// Values over 1 MiB are written into the CSV slice by slice (never held whole twice): text
/// that needs quotes and the formula guard, bytea, json and jsonb come back exactly; the
/// Parquet bundle (a spooled file of several MiB read back) too.
#[test]
fn large_values_stream_into_the_bundles_and_come_back() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
         INSERT INTO orgs VALUES (1, 'acme');
         CREATE TABLE blobs (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                             t text, plain text, b bytea, j jsonb, js json);
         INSERT INTO blobs SELECT g, 1,
             '=' || repeat(E'say \"hi\", then\n' || md5(g::text), 200000),
             repeat(md5(g::text), 100000),
             decode(repeat(md5(g::text), 70000), 'hex'),
             jsonb_build_object('k', repeat('q\"' || md5(g::text), 60000)),
             json_build_object('k', repeat('a,b', 500000))
           FROM generate_series(1, 2) g;",
    );
    let store = TempDir::new();
    for format in ["csv", "parquet"] {
        let bundle = export(&db, &store, format);
        Orgexport::on(&db, &store, &["verify", bundle.to_str().unwrap()]).run();
        let target = restore(&db, &store, &bundle);
        let digest = "SELECT id, md5(t), md5(plain), md5(b), md5(j::text), md5(js::text) FROM blobs ORDER BY id";
        assert_eq!(target.digest_of(digest), db.digest_of(digest), "{format}");
    }
}

/// Peak memory of an export in each format of an org of ~120 MiB of rows (and of the
/// Parquet archive's `verify`).
#[test]
fn every_format_streams_in_bounded_memory() {
    let db = TestDb::new();
    db.execute(
        "CREATE TABLE orgs (id bigint PRIMARY KEY, slug text UNIQUE NOT NULL);
         INSERT INTO orgs VALUES (1, 'big');
         CREATE TABLE events (id bigint PRIMARY KEY, org_id bigint NOT NULL REFERENCES orgs,
                              body text NOT NULL, data jsonb NOT NULL);
         INSERT INTO events SELECT g, 1, repeat(md5(g::text), 12), jsonb_build_object('n', g, 's', md5(g::text))
           FROM generate_series(1, 250000) g;",
    );
    let store = TempDir::new();
    for format in ["json", "ndjson", "csv", "parquet"] {
        let run = Orgexport::export(&db, &store, "big")
            .after_shell("exec /usr/bin/time -f 'peak-rss-kib %M' \"$0\" \"$@\"")
            .args(["--format", format])
            .run();
        let rss_kib = run.peak_rss_kib();
        assert!(
            rss_kib < 64 * 1024,
            "{format}: peak RSS {rss_kib} KiB exporting ~120 MiB of rows"
        );
        if format == "parquet" {
            // Read back too: its one file of ~120 MiB through the sealed spool, a row group
            // at a time.
            let archive = Archive::path_from_run(&run);
            let verified = Orgexport::on(&db, &store, &["verify", archive.to_str().unwrap()])
                .measure_memory()
                .run();
            let rss_kib = verified.peak_rss_kib();
            assert!(
                rss_kib < 64 * 1024,
                "parquet: peak RSS {rss_kib} KiB verifying ~120 MiB of rows"
            );
        }
    }
}
