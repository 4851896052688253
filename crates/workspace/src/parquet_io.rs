//! Writing and reading partition files.
//!
//! A file holds rows of one table and one UTC hour, zstd-compressed (files written by
//! compaction are sorted by TimeGenerated; flush files keep arrival order, see [`for_each_hour`]),
//! with the Arrow schema embedded (so field metadata such as `kql.type` survives) and the
//! key-value metadata `keelwatch.table`, `keelwatch.first_lsn`, `keelwatch.last_lsn`.
//! Files are written as `.<name>.tmp`, fsynced, renamed into place, and the directory fsynced.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{SortOptions, concat_batches, interleave_record_batch, sort_to_indices, take_record_batch};
use arrow::datatypes::{SchemaRef, TimestampNanosecondType};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::manifest::FileEntry;

const NS_PER_HOUR: i64 = 3_600_000_000_000;

/// Hour bucket (hours since the epoch) of a nanosecond timestamp.
pub(crate) fn hour_of(ns: i64) -> i64 {
    ns.div_euclid(NS_PER_HOUR)
}

/// Relative directory of a table's partition, `<Table>/date=YYYY-MM-DD/hour=HH`.
pub(crate) fn partition_dir(table: &str, hour: i64) -> String {
    let secs = hour * 3600;
    let dt = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
    format!("{table}/date={}/hour={}", dt.format("%Y-%m-%d"), dt.format("%H"))
}

/// Concatenates batches and sorts them by the TimeGenerated column (index 0 when absent),
/// nulls first.
pub(crate) fn sort_by_time(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let idx = schema.index_of("TimeGenerated").unwrap_or(0);
    let times: Option<Vec<_>> =
        batches.iter().map(|b| b.column(idx).as_primitive_opt::<TimestampNanosecondType>()).collect();
    let Some(times) = times.filter(|t| !t.is_empty()) else {
        let all = concat_batches(schema, batches)?;
        let order = sort_to_indices(all.column(idx), Some(SortOptions { descending: false, nulls_first: true }), None)?;
        return Ok(take_record_batch(&all, &order)?);
    };
    // Sort (time, batch, row) keys and gather every column once with `interleave`: concatenating
    // first and then taking copied all the data twice, a visible part of ingestion (perf).
    let keys = sorted_keys(&times);
    let indices: Vec<(usize, usize)> = keys.iter().map(|&(_, b, r)| (b as usize, r as usize)).collect();
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    Ok(interleave_record_batch(&refs, &indices)?)
}

/// The rows of `batches` cut into one group per UTC hour (rows without a time go to hour 0),
/// each in arrival order; `write` is called per hour, in hour order, with that hour's rows.
///
/// Flush files are not sorted by time: compaction rewrites every flush file (it is written
/// below the long-term zstd level) and sorts then ([`sort_by_time`]). Sorting here copied every
/// row once more and was 12 % of ingestion CPU (perf). When the input arrives in hour order, as
/// a log stream does, each hour is a run of rows and is passed as zero-copy slices of the
/// input; otherwise each hour's rows are gathered (one copy, one hour at a time so only one
/// hour's copy exists at once).
pub(crate) fn for_each_hour(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    mut write: impl FnMut(i64, &[RecordBatch]) -> Result<()>,
) -> Result<()> {
    let idx = schema.index_of("TimeGenerated").unwrap_or(0);
    let times: Option<Vec<_>> =
        batches.iter().map(|b| b.column(idx).as_primitive_opt::<TimestampNanosecondType>()).collect();
    let Some(times) = times else {
        // no timestamp column: everything is hour 0
        return if batches.iter().any(|b| b.num_rows() > 0) { write(0, batches) } else { Ok(()) };
    };
    let hour_at =
        |t: &arrow::array::TimestampNanosecondArray, r: usize| if t.is_valid(r) { hour_of(t.value(r)) } else { 0 };
    // (batch, first row, rows, hour) runs of equal hours, in input order
    let mut runs: Vec<(usize, usize, usize, i64)> = Vec::new();
    for (b, t) in times.iter().enumerate() {
        let mut r = 0;
        while r < t.len() {
            let h = hour_at(t, r);
            let mut end = r + 1;
            while end < t.len() && hour_at(t, end) == h {
                end += 1;
            }
            runs.push((b, r, end - r, h));
            r = end;
        }
    }
    if runs.windows(2).all(|w| w[0].3 <= w[1].3) {
        let mut i = 0;
        while i < runs.len() {
            let h = runs[i].3;
            let mut slices = Vec::new();
            while i < runs.len() && runs[i].3 == h {
                let (b, r, n, _) = runs[i];
                slices.push(batches[b].slice(r, n));
                i += 1;
            }
            write(h, &slices)?;
        }
        return Ok(());
    }
    let mut by_hour: std::collections::BTreeMap<i64, Vec<(usize, usize)>> = Default::default();
    for (b, r, n, h) in runs {
        by_hour.entry(h).or_default().extend((r..r + n).map(|row| (b, row)));
    }
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    for (h, indices) in by_hour {
        write(h, &[interleave_record_batch(&refs, &indices)?])?;
    }
    Ok(())
}

/// `(time, batch, row)` of every row, sorted.
fn sorted_keys(times: &[&arrow::array::TimestampNanosecondArray]) -> Vec<(Option<i64>, u32, u32)> {
    let mut keys: Vec<(Option<i64>, u32, u32)> = Vec::with_capacity(times.iter().map(|t| t.len()).sum());
    for (b, t) in times.iter().enumerate() {
        for r in 0..t.len() {
            keys.push((t.is_valid(r).then(|| t.value(r)), b as u32, r as u32));
        }
    }
    if !keys.is_sorted() {
        keys.sort_unstable();
    }
    keys
}

fn time_range(batches: &[RecordBatch]) -> (i64, i64) {
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for batch in batches {
        let idx = batch.schema().index_of("TimeGenerated").unwrap_or(0);
        if let Some(t) = batch.column(idx).as_primitive_opt::<TimestampNanosecondType>() {
            for v in t.iter().flatten() {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if lo > hi { (0, 0) } else { (lo, hi) }
}

/// Writes `batches` (one schema, at least one batch) as one partition file, durably; returns its
/// manifest entry (path relative to `root`).
pub(crate) fn write_partition(
    root: &Path,
    table: &str,
    hour: i64,
    batches: &[RecordBatch],
    lsn_range: (u64, u64),
    zstd_level: i32,
) -> Result<FileEntry> {
    let rel_dir = partition_dir(table, hour);
    let dir = root.join(&rel_dir);
    std::fs::create_dir_all(&dir).map_err(Error::io("create partition directory", &dir))?;
    let name = format!("{}.parquet", ulid::Ulid::new());
    let tmp = dir.join(format!(".{name}.tmp"));
    let path = dir.join(&name);
    let perr = |p: &PathBuf| {
        let p = p.clone();
        move |source| Error::Parquet { path: p, source }
    };
    let level = ZstdLevel::try_new(zstd_level).unwrap_or_default();
    let schema = batches
        .first()
        .map(|b| b.schema())
        .ok_or_else(|| Error::Arrow(arrow::error::ArrowError::InvalidArgumentError("no rows to write".to_string())))?;
    let mut props = WriterProperties::builder();
    // No min/max statistics for dynamic (JSON text) columns: KQL reads them only through
    // functions, so nothing prunes on them, and comparing every value for min/max was 3 % of
    // ingestion CPU (perf).
    for f in schema.fields() {
        if crate::schema::kql_type_of(f) == Some(keelwatch_tables::ColumnType::Dynamic) {
            props = props.set_column_statistics_enabled(ColumnPath::from(f.name().as_str()), EnabledStatistics::None);
        }
    }
    let props = props
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(256 * 1024))
        .set_created_by("keelwatch-workspace".to_string())
        .set_key_value_metadata(Some(vec![
            KeyValue::new("keelwatch.table".to_string(), table.to_string()),
            KeyValue::new("keelwatch.first_lsn".to_string(), lsn_range.0.to_string()),
            KeyValue::new("keelwatch.last_lsn".to_string(), lsn_range.1.to_string()),
        ]))
        .build();
    let file = File::create(&tmp).map_err(Error::io("create partition file", &tmp))?;
    let mut w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(perr(&tmp))?;
    for batch in batches {
        w.write(batch).map_err(perr(&tmp))?;
    }
    let file = w.into_inner().map_err(perr(&tmp))?;
    file.sync_all().map_err(Error::io("fsync partition file", &tmp))?;
    let bytes = file.metadata().map_err(Error::io("stat partition file", &tmp))?.len();
    drop(file);
    std::fs::rename(&tmp, &path).map_err(Error::io("rename partition file", &path))?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(Error::io("fsync directory", &dir))?;
    let (min_time, max_time) = time_range(batches);
    Ok(FileEntry {
        path: format!("{rel_dir}/{name}"),
        rows: batches.iter().map(|b| b.num_rows() as u64).sum(),
        bytes,
        hour,
        min_time,
        max_time,
        first_lsn: lsn_range.0,
        last_lsn: lsn_range.1,
        zstd_level: level.compression_level(),
        shadow_columns: crate::shadow::shadow_columns(&schema),
    })
}

/// `b` under the current table schema `schema`. Data written before a column was added to the
/// catalog (WAL records, partition files) lacks it: such a column reads as null, as the query
/// path's Parquet reader does too. Anything else that differs (a renamed, retyped or unknown
/// column) is an error.
pub(crate) fn conform(b: &RecordBatch, schema: &SchemaRef) -> std::result::Result<RecordBatch, String> {
    let have = b.schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    let mut used = 0;
    for f in schema.fields() {
        match have.index_of(f.name()) {
            Ok(i) if have.field(i).data_type() == f.data_type() => {
                columns.push(Arc::clone(b.column(i)));
                used += 1;
            }
            Err(_) if f.is_nullable() => columns.push(arrow::array::new_null_array(f.data_type(), b.num_rows())),
            _ => return Err(format!("stored column '{}' differs from the table schema", f.name())),
        }
    }
    if used != have.fields().len() {
        return Err("stored data has columns the table schema does not know".to_string());
    }
    RecordBatch::try_new(Arc::clone(schema), columns).map_err(|e| e.to_string())
}

/// Reads a whole partition file: batches with the `stored` schema, or with the table's own
/// columns (`visible`) for a file written before the table had shadow columns.
pub(crate) fn read_file(path: &Path, visible: &SchemaRef, stored: &SchemaRef) -> Result<Vec<RecordBatch>> {
    let perr = |source| Error::Parquet { path: path.to_path_buf(), source };
    let f = File::open(path).map_err(Error::io("open partition file", path))?;
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(f).map_err(perr)?.with_batch_size(64 * 1024).build().map_err(perr)?;
    let mut out = Vec::new();
    for b in reader {
        let b = b?;
        // Re-attach the canonical schema (keeps metadata exact): the stored one when the file
        // has the shadow columns, else the table's own columns; a column added to the table
        // after the file was written reads as null (`conform`).
        let has_shadows = stored
            .fields()
            .iter()
            .filter(|f| visible.index_of(f.name()).is_err())
            .all(|f| b.schema().index_of(f.name()).is_ok());
        let schema = if has_shadows { stored } else { visible };
        out.push(
            conform(&b, schema)
                .map_err(|m| arrow::error::ArrowError::SchemaError(format!("{}: {m}", path.display())))?,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{ArrayRef, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    fn batch(schema: &SchemaRef, t: &[Option<i64>], s: &[&str]) -> RecordBatch {
        let t: ArrayRef = Arc::new(TimestampNanosecondArray::from(t.to_vec()).with_timezone("UTC"));
        let s: ArrayRef = Arc::new(StringArray::from(s.to_vec()));
        RecordBatch::try_new(schema.clone(), vec![t, s]).unwrap()
    }

    #[test]
    fn sort_by_time_orders_across_batches_nulls_first() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
            Field::new("v", DataType::Utf8, true),
        ]));
        let a = batch(&schema, &[Some(30), None, Some(10)], &["a30", "a-null", "a10"]);
        let b = batch(&schema, &[Some(20), Some(10), Some(40)], &["b20", "b10", "b40"]);
        let sorted = sort_by_time(&schema, &[a.clone(), b]).unwrap();
        let v: Vec<&str> = sorted.column(1).as_string::<i32>().iter().map(|x| x.unwrap()).collect();
        // equal times keep input order (batch, then row)
        assert_eq!(v, ["a-null", "a10", "b10", "b20", "a30", "b40"]);
        assert_eq!(sorted.schema(), schema);
        // already sorted input comes back unchanged
        let s = batch(&schema, &[None, Some(1), Some(2)], &["x", "y", "z"]);
        assert_eq!(sort_by_time(&schema, std::slice::from_ref(&s)).unwrap(), s);
        assert_eq!(sort_by_time(&schema, &[]).unwrap().num_rows(), 0);
    }

    /// Rows of each hour, in arrival order, per `write` call.
    fn hours_of(schema: &SchemaRef, batches: &[RecordBatch]) -> Vec<(i64, Vec<String>, usize)> {
        let mut out = Vec::new();
        for_each_hour(schema, batches, |h, rows| {
            let v = rows.iter().flat_map(|b| b.column(1).as_string::<i32>().iter().map(|x| x.unwrap().to_string()));
            out.push((h, v.collect(), rows.len()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn for_each_hour_groups_rows_by_hour_in_arrival_order() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
            Field::new("v", DataType::Utf8, true),
        ]));
        let h = NS_PER_HOUR;
        // hour-ordered input (times unsorted inside an hour, an hour spanning two batches):
        // passed as slices of the input, one call per hour, rows in arrival order
        let a = batch(&schema, &[Some(5), Some(1), Some(h + 9)], &["a5", "a1", "a-h9"]);
        let b = batch(&schema, &[Some(h + 2), Some(2 * h)], &["b-h2", "b-2h"]);
        assert_eq!(
            hours_of(&schema, &[a.clone(), b.clone()]),
            [
                (0, vec!["a5".to_string(), "a1".to_string()], 1),
                (1, vec!["a-h9".to_string(), "b-h2".to_string()], 2),
                (2, vec!["b-2h".to_string()], 1),
            ]
        );
        // hours out of order and a null time (hour 0): each hour gathered, still in arrival order
        let c = batch(&schema, &[Some(h + 1), None, Some(3)], &["c-h1", "c-null", "c3"]);
        assert_eq!(
            hours_of(&schema, &[b, a, c]),
            [
                (0, vec!["a5".to_string(), "a1".to_string(), "c-null".to_string(), "c3".to_string()], 1),
                (1, vec!["b-h2".to_string(), "a-h9".to_string(), "c-h1".to_string()], 1),
                (2, vec!["b-2h".to_string()], 1),
            ]
        );
        assert!(hours_of(&schema, &[]).is_empty());
    }

    #[test]
    fn conform_fills_a_later_added_column_with_nulls_and_rejects_other_differences() {
        let time = Field::new("TimeGenerated", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true);
        let old: SchemaRef = Arc::new(Schema::new(vec![time.clone(), Field::new("v", DataType::Utf8, true)]));
        let now: SchemaRef = Arc::new(Schema::new(vec![
            time.clone(),
            Field::new("v", DataType::Utf8, true),
            Field::new("added", DataType::Utf8, true),
        ]));
        let b = batch(&old, &[Some(1), Some(2)], &["x", "y"]);
        let c = conform(&b, &now).unwrap();
        assert_eq!(c.schema(), now);
        assert_eq!(c.column(1).as_string::<i32>().iter().collect::<Vec<_>>(), [Some("x"), Some("y")]);
        assert_eq!(c.column(2).null_count(), 2);
        // same schema: unchanged
        assert_eq!(conform(&b, &old).unwrap(), b);
        // a retyped column or an unknown one is an error, not silently dropped
        let retyped: SchemaRef = Arc::new(Schema::new(vec![time.clone(), Field::new("v", DataType::Int64, true)]));
        assert!(conform(&b, &retyped).unwrap_err().contains("'v'"));
        let fewer: SchemaRef = Arc::new(Schema::new(vec![time]));
        assert!(conform(&b, &fewer).unwrap_err().contains("does not know"));
    }
}
