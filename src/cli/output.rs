//! What the commands print: aligned tables and `key  value` lists for
//! people, pretty JSON (the same shapes as the HTTP API) for scripts.

use std::io::{self, Write};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{Table, presets};
use serde::Serialize;
use serde_json::Value;

/// Where a command writes, and in which form.
pub(super) struct Output<'a> {
    out: &'a mut (dyn Write + Send),
    json: bool,
}

impl<'a> Output<'a> {
    pub(super) fn new(out: &'a mut (dyn Write + Send), json: bool) -> Output<'a> {
        Output { out, json }
    }

    /// Whether `--json` was given.
    pub(super) fn json(&self) -> bool {
        self.json
    }

    /// `value` as pretty JSON on its own lines.
    pub(super) fn json_value<T: Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut *self.out, value)?;
        writeln!(self.out)?;
        self.out.flush()
    }

    pub(super) fn line(&mut self, text: impl std::fmt::Display) -> io::Result<()> {
        writeln!(self.out, "{text}")?;
        self.out.flush()
    }

    pub(super) fn table(&mut self, table: &Table) -> io::Result<()> {
        writeln!(self.out, "{}", table.trim_fmt())?;
        self.out.flush()
    }

    /// `value` as JSON with `--json`, else what `people` renders.
    pub(super) fn either<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
        people: impl FnOnce(&mut Output<'a>) -> io::Result<()>,
    ) -> io::Result<()> {
        if self.json {
            self.json_value(value)
        } else {
            people(self)
        }
    }
}

/// A table with these column titles: no borders, columns two spaces apart
/// (as `ps` or `kubectl` print them), widths from the content.
pub(super) fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.to_vec());
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// Two columns, field and value: one record, for people.
pub(super) fn fields(rows: Vec<(&str, String)>) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    for (field, value) in rows {
        table.add_row(vec![format!("{field}:"), value]);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 1));
    }
    table
}

/// A time as RFC 3339 in UTC, to the second: `2026-05-01T12:00:00Z`.
pub(super) fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// [`time`], or `-` for none.
pub(super) fn opt_time(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "-".to_owned(), time)
}

/// A duration in the largest unit that keeps it readable: `1.5s`, `90s`,
/// `5m`, `2h30m`, `3d`.
pub(super) fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 120 {
        let s = format!("{:.3}", d.as_secs_f64());
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return format!("{s}s");
    }
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

/// JSON on one line, for a table cell.
pub(super) fn compact(value: &Value) -> String {
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_output_durations_read_naturally() {
        assert_eq!(duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(duration(Duration::from_secs(30)), "30s");
        assert_eq!(duration(Duration::ZERO), "0s");
        assert_eq!(duration(Duration::from_secs(300)), "5m");
        assert_eq!(duration(Duration::from_secs(9000)), "2h30m");
        assert_eq!(duration(Duration::from_secs(3 * 86_400 + 1)), "3d1s");
    }

    #[test]
    fn cli_output_tables_align_columns_without_borders() {
        let mut t = table(&["ID", "STATE"]);
        t.add_row(vec!["a-long-id", "PENDING"]);
        t.add_row(vec!["b", "FAILED"]);
        assert_eq!(
            t.trim_fmt(),
            "ID         STATE\na-long-id  PENDING\nb          FAILED"
        );
    }
}
