//! Reading archives without a database (`inspect`, `cat`, `diff`): the manifest alone from
//! the archive's first gzip member (`head`), one archive as a stream of rows by section
//! whatever its format (`rows`), the manifest as a table (`table`), rows as NDJSON or CSV
//! (`format`), and two archives of one org compared in bounded memory (`diff`). Finding the
//! archive (path, URL, export id) is `store::source`'s and `commands`'; checking an archive
//! is `export::verify`'s, which `rows` builds on.

pub mod diff;
pub mod format;
pub mod head;
pub mod rows;
pub mod table;
