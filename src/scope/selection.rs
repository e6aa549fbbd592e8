//! Which sections a run writes: those `--tables` selects, refused up front when row-level
//! security would hide rows of one of them (an export never filters silently, DESIGN §2).
//! Shared by `run` and `plan`, so both refuse the same way.

use crate::error::{Kind, fail};
use crate::scope::catalog::Catalog;
use crate::scope::model::{Scope, Section, row_security_message};

impl Scope {
    /// The sections written, in order; an error naming the first table whose rows row-level
    /// security would hide from this role.
    pub fn selected_sections<'s>(&'s self, catalog: &Catalog) -> anyhow::Result<Vec<&'s Section>> {
        let selected = self.selected(catalog);
        if let Some(blocked) = selected
            .iter()
            .map(|s| catalog.table(s.table))
            .find(|t| t.row_security_blocks)
        {
            return Err(fail(
                Kind::ExportFailed,
                row_security_message(&blocked.qualified_name()),
            ));
        }
        Ok(selected)
    }

    /// The sections `--tables` selects, without the row-level security check (`plan
    /// --estimate` reads no rows).
    pub fn selected<'s>(&'s self, catalog: &Catalog) -> Vec<&'s Section> {
        self.sections
            .iter()
            .filter(|s| self.is_selected(catalog, s))
            .collect()
    }
}
