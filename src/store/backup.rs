//! `oshirase backup`: a consistent copy of the database while the service runs.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableMultimapTable, ReadableTable};

use super::tables::*;
use super::{Store, StoreError};

/// What a backup copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BackupReport {
    pub posts: usize,
    pub deliveries: usize,
    pub events: usize,
    /// Index and metadata rows.
    pub other_rows: usize,
}

impl Store {
    /// Writes a consistent copy of the whole database to `dest` (a new file), from one read
    /// transaction, so it can run while the service writes. Restoring is putting the copy
    /// back as `<data>/oshirase.redb` while no service runs.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupReport, StoreError> {
        if dest.exists() {
            return Err(StoreError::Open {
                path: dest.to_path_buf(),
                message: "the backup file exists already; choose a new name".into(),
            });
        }
        let open_err = |e: redb::DatabaseError| StoreError::Open {
            path: dest.to_path_buf(),
            message: e.to_string(),
        };
        let copy = Database::create(dest).map_err(open_err)?;
        let read = self.db.begin_read()?;
        let write = copy.begin_write()?;
        let mut report = BackupReport::default();
        {
            macro_rules! copy_table {
                ($def:expr, $count:expr) => {{
                    let from = read.open_table($def)?;
                    let mut to = write.open_table($def)?;
                    for row in from.iter()? {
                        let (k, v) = row?;
                        to.insert(k.value(), v.value())?;
                        $count += 1;
                    }
                }};
            }
            let mut rows = 0usize;
            copy_table!(POSTS, report.posts);
            copy_table!(DELIVERIES, report.deliveries);
            copy_table!(DUE, rows);
            copy_table!(URGENT, rows);
            copy_table!(EVENTS, report.events);
            copy_table!(FILES, rows);
            copy_table!(MEDIA, rows);
            copy_table!(META, rows);
            copy_table!(COUNTERS, rows);
            let from = read.open_multimap_table(POST_EVENTS)?;
            let mut to = write.open_multimap_table(POST_EVENTS)?;
            for row in from.iter()? {
                let (k, values) = row?;
                for v in values {
                    to.insert(k.value(), v?.value())?;
                    rows += 1;
                }
            }
            report.other_rows = rows;
        }
        write.commit()?;
        Ok(report)
    }
}
