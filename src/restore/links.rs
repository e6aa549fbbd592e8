//! How the restored sections refer to each other (DESIGN §9), for the load plan: which
//! columns follow a key map (a remapped key, or a shared row matched to another key), which
//! references must resolve to a row of the archive or of the target, the ownership
//! references that prove a row is the org's, and which columns of a shared row are compared
//! with a present one. Pure; `plan.rs` assembles the result.

use std::collections::HashMap;

use crate::restore::manifest::SectionRole;
use crate::restore::model::{Dangling, LoadSection, Owner, Points, Rewrite};
use crate::restore::target::TargetColumn;
use crate::scope::catalog::{Catalog, TableId};
use crate::scope::model::{EdgeKind, Scope};
use crate::scope::references::{Origin, Reference};

/// The references among the restored sections, and what follows from them.
pub struct Linked<'a> {
    pub catalog: &'a Catalog,
    pub columns: &'a HashMap<String, Vec<TargetColumn>>,
    pub section_of: &'a HashMap<TableId, usize>,
    pub references: &'a [Reference],
}

pub struct Followed {
    pub rewrites: Vec<Vec<Rewrite>>,
    pub danglings: Vec<Vec<Dangling>>,
}

impl Linked<'_> {
    /// A reference from a restored section whose columns the archive holds, with the
    /// section it comes from. A delegated reference (an owned row's key "pointing" at its
    /// owner's pair) carries no key to rewrite or resolve: the pair it reverses does.
    fn outgoing<'r>(
        &'r self,
        sections: &'r [LoadSection],
    ) -> impl Iterator<Item = (&'r Reference, usize)> + 'r {
        let pointing = self
            .references
            .iter()
            .filter(|r| r.origin != Origin::Delegated);
        pointing.filter_map(move |r| {
            let from = *self.section_of.get(&r.table)?;
            let source = &sections[from];
            let staged = r.columns.iter().all(|c| source.columns.contains(c))
                && r.when
                    .as_ref()
                    .is_none_or(|(type_column, _)| source.columns.contains(type_column));
            staged.then_some((r, from))
        })
    }

    /// Where a reference points; `None` for a restored section that lacks the columns.
    fn points(&self, r: &Reference, sections: &[LoadSection]) -> Option<Points> {
        let section = self.section_of.get(&r.target).copied();
        if let Some(to) = section
            && !r
                .target_columns
                .iter()
                .all(|c| sections[to].columns.contains(c))
        {
            return None;
        }
        Some(Points {
            section,
            table: self.catalog.table(r.target).from_clause(),
            columns: r.target_columns.clone(),
        })
    }

    /// For each section: the columns rewritten through a key map, and the references whose
    /// values must resolve.
    pub fn follow(&self, sections: &[LoadSection]) -> Followed {
        let restored: Vec<(&Reference, usize, usize)> = self
            .outgoing(sections)
            .filter_map(|(r, from)| Some((r, from, *self.section_of.get(&r.target)?)))
            .collect();
        let mut rewrites = vec![Vec::new(); sections.len()];
        let mut danglings = vec![Vec::new(); sections.len()];
        for (r, from) in self.outgoing(sections) {
            let Some(points) = self.points(r, sections) else {
                continue;
            };
            let source = &sections[from];
            if let Some(to) = points.section {
                for (column, target_column) in r.columns.iter().zip(&r.target_columns) {
                    if source.map_column() == Some(column.as_str()) {
                        continue;
                    }
                    let Some(map) = map_of(sections, &restored, to, target_column, 0) else {
                        continue;
                    };
                    let rewrite = Rewrite {
                        column: column.clone(),
                        when: r.when.clone(),
                        map,
                    };
                    if !rewrites[from]
                        .iter()
                        .any(|w: &Rewrite| w.column == rewrite.column && w.when == rewrite.when)
                    {
                        rewrites[from].push(rewrite);
                    }
                }
            }
            let dangling = Dangling {
                columns: r.columns.clone(),
                nullable: self.nullable(source, &r.columns),
                when: r.when.clone(),
                points,
                declared: r.origin == Origin::Declared,
            };
            if !danglings[from].contains(&dangling) {
                danglings[from].push(dangling);
            }
        }
        Followed {
            rewrites,
            danglings,
        }
    }

    fn nullable(&self, source: &LoadSection, columns: &[String]) -> Vec<String> {
        columns
            .iter()
            .filter(|c| {
                self.columns
                    .get(&source.name)
                    .and_then(|cs| cs.iter().find(|t| &t.name == *c))
                    .is_some_and(|t| !t.not_null)
            })
            .cloned()
            .collect()
    }

    /// For each owned section: its ownership references, from the target scope's edges.
    pub fn owners(
        &self,
        sections: &[LoadSection],
        scope: &Scope,
        roles: &[&SectionRole],
    ) -> Vec<Vec<Owner>> {
        roles
            .iter()
            .map(|role| {
                scope
                    .edges
                    .iter()
                    .filter(|e| e.kind == EdgeKind::Owns && e.target == role.table)
                    .filter_map(|e| {
                        let r = &self.references[e.reference];
                        Some(Owner {
                            columns: r.columns.clone(),
                            when: r.when.clone(),
                            points: self.points(r, sections)?,
                        })
                    })
                    .collect()
            })
            .collect()
    }

    /// For each shared section: the columns compared with a present row — all staged ones
    /// but those referencing the org's own rows, whose values are relative to the org.
    pub fn compared_columns(&self, sections: &[LoadSection]) -> Vec<Vec<String>> {
        sections
            .iter()
            .enumerate()
            .map(|(i, section)| {
                let org_relative: Vec<&String> = self
                    .outgoing(sections)
                    .filter(|(r, from)| {
                        *from == i
                            && self
                                .section_of
                                .get(&r.target)
                                .is_some_and(|&to| sections[to].role.is_owned())
                    })
                    .flat_map(|(r, _)| &r.columns)
                    .collect();
                section
                    .columns
                    .iter()
                    .filter(|c| !org_relative.contains(c))
                    .cloned()
                    .collect()
            })
            .collect()
    }
}

/// The key map a column's values follow: its own section's, or — through a reference —
/// the map of the column it points at, transitively (a composite key's tenant column).
fn map_of(
    sections: &[LoadSection],
    restored: &[(&Reference, usize, usize)],
    section: usize,
    column: &str,
    depth: usize,
) -> Option<usize> {
    if sections[section].map_column() == Some(column) {
        return Some(section);
    }
    if depth > sections.len() {
        return None;
    }
    restored
        .iter()
        .filter(|(r, from, _)| *from == section && r.when.is_none())
        .find_map(|(r, _, to)| {
            let k = r.columns.iter().position(|c| c == column)?;
            map_of(sections, restored, *to, &r.target_columns[k], depth + 1)
        })
}
