//! Metrics exports in JSON, recognised by content: a Prometheus `query_range` response
//! (`data.result[].values` of `[unix seconds, "value"]`, read as rps: a `rate()` is the
//! usual query) and a CloudWatch `get-metric-data` response (`MetricDataResults[]` with
//! `Timestamps` and `Values`, read as counts per period: the `Sum` statistic of a request
//! count). Several series are summed per stamp (instances of one service).
use std::collections::BTreeMap;

use chrono::FixedOffset;
use serde::Deserialize;

use super::located::Source;
use super::traffic::{Column, ParsedRows, Row};
use crate::error::InputError;
use crate::timestamp::{from_epoch, parse_stamp, shorten};

#[derive(Deserialize)]
struct Prometheus {
    data: PrometheusData,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrometheusData {
    result_type: String,
    result: Vec<PrometheusSeries>,
}

#[derive(Deserialize)]
struct PrometheusSeries {
    #[serde(default)]
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CloudWatch {
    metric_data_results: Vec<CloudWatchResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CloudWatchResult {
    timestamps: Vec<String>,
    values: Vec<f64>,
}

/// Read a JSON metrics export; `tz_offset` is the wall clock of the rows (default UTC).
pub fn parse(source: &Source, tz_offset: Option<i32>) -> Result<ParsedRows, InputError> {
    let value: serde_json::Value = source.json("json")?;
    let zone = tz_offset.unwrap_or(0);
    let offset =
        FixedOffset::east_opt(zone).ok_or_else(|| source.whole_file("UTC offset out of range"))?;
    let mut sums: BTreeMap<i64, f64> = BTreeMap::new();
    let mut add = |utc: i64, value: f64| *sums.entry(utc + i64::from(zone)).or_insert(0.0) += value;
    let (format, column, mut notes) = if value.get("MetricDataResults").is_some() {
        let export: CloudWatch = source.json("MetricDataResults")?;
        let mut newest_first = false;
        for (k, result) in export.metric_data_results.iter().enumerate() {
            if result.timestamps.len() != result.values.len() {
                return Err(source.at_line(
                    1,
                    format!("MetricDataResults[{k}]"),
                    format!(
                        "{} Timestamps but {} Values; expected one value per stamp",
                        result.timestamps.len(),
                        result.values.len()
                    ),
                ));
            }
            let mut previous = None;
            for (j, (stamp, &value)) in result.timestamps.iter().zip(&result.values).enumerate() {
                let field = || format!("MetricDataResults[{k}].Timestamps[{j}]");
                let stamp = parse_stamp(stamp).map_err(|m| source.at_line(1, field(), m))?;
                let utc = stamp.utc_seconds(0);
                newest_first |= previous.is_some_and(|p| utc < p);
                previous = Some(utc);
                check_value(value, source, || {
                    format!("MetricDataResults[{k}].Values[{j}]")
                })?;
                add(utc, value);
            }
        }
        let mut notes = vec![format!(
            "CloudWatch get-metric-data: {} metric(s) summed per stamp, values read as counts per period (the Sum statistic)",
            export.metric_data_results.len()
        )];
        if newest_first {
            notes.push("rows were newest first: read in time order".to_string());
        }
        ("cloudwatch", Column::Requests, notes)
    } else if value.pointer("/data/result").is_some() {
        let export: Prometheus = source.json("data")?;
        if export.data.result_type != "matrix" {
            return Err(source.at_line(
                1,
                "data.resultType",
                format!(
                    "'{}': expected `matrix` (the answer of /api/v1/query_range)",
                    shorten(&export.data.result_type)
                ),
            ));
        }
        let mut missing = 0usize;
        for (k, series) in export.data.result.iter().enumerate() {
            for (j, (seconds, text)) in series.values.iter().enumerate() {
                let field = || format!("data.result[{k}].values[{j}]");
                let stamp = from_epoch(*seconds).ok_or_else(|| {
                    source.at_line(1, field(), format!("{seconds} is not Unix seconds"))
                })?;
                // Prometheus writes a missing sample as NaN: an absent row.
                if text.eq_ignore_ascii_case("nan") {
                    missing += 1;
                    continue;
                }
                let value: f64 = text.parse().map_err(|_| {
                    source.at_line(1, field(), format!("'{}' is not a number", shorten(text)))
                })?;
                check_value(value, source, field)?;
                add(stamp.utc_seconds(0), value);
            }
        }
        let mut notes = vec![format!(
            "Prometheus query_range: {} series summed per stamp, values read as rps (a rate)",
            export.data.result.len()
        )];
        if missing > 0 {
            notes.push(format!("{missing} NaN sample(s) read as absent"));
        }
        ("prometheus", Column::Rps, notes)
    } else {
        return Err(source.at_line(
            1,
            "json",
            "JSON, but neither a Prometheus query_range response (data.result) nor a CloudWatch \
             get-metric-data response (MetricDataResults)",
        ));
    };
    let rows: Vec<Row> = sums
        .into_iter()
        .map(|(local, value)| Row {
            line: 1,
            local,
            value: Some(value),
            upper: None,
        })
        .collect();
    if rows.is_empty() {
        notes.push("no samples".to_string());
    }
    Ok(ParsedRows::from_json(
        format,
        column,
        offset,
        rows,
        notes,
        "timestamp",
    ))
}

fn check_value(value: f64, source: &Source, field: impl Fn() -> String) -> Result<(), InputError> {
    if !value.is_finite() || value < 0.0 {
        return Err(source.at_line(
            1,
            field(),
            format!("{value} is not a finite, non-negative number; traffic cannot be"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn rows(text: &str) -> Result<ParsedRows, String> {
        parse(&Source::new(Path::new("m.json"), text), None).map_err(|e| e.to_string())
    }

    #[test]
    fn prometheus_series_are_summed_and_nan_is_absent() {
        let text = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"instance":"a"},"values":[[1700000000,"1.5"],[1700000300,"NaN"]]},
            {"metric":{"instance":"b"},"values":[[1700000000.0,"2"],[1700000300,"4"]]}]}}"#;
        let parsed = rows(text).unwrap();
        assert_eq!(parsed.column, Column::Rps);
        let values: Vec<(i64, Option<f64>)> =
            parsed.rows.iter().map(|r| (r.local, r.value)).collect();
        assert_eq!(
            values,
            vec![(1_700_000_000, Some(3.5)), (1_700_000_300, Some(4.0))]
        );
        assert!(
            parsed.notes.iter().any(|n| n.contains("1 NaN")),
            "{:?}",
            parsed.notes
        );
    }

    #[test]
    fn cloudwatch_newest_first_is_read_in_time_order_as_counts() {
        let text = r#"{"MetricDataResults":[{"Id":"m1","Label":"RequestCount",
            "Timestamps":["2014-04-10T00:10:00Z","2014-04-10T00:05:00+00:00"],
            "Values":[20.0,10.0],"StatusCode":"Complete"}],"Messages":[]}"#;
        let parsed = rows(text).unwrap();
        assert_eq!(parsed.column, Column::Requests);
        assert_eq!(parsed.rows[0].value, Some(10.0));
        assert!(parsed.rows[0].local < parsed.rows[1].local);
        assert!(parsed.notes.iter().any(|n| n.contains("newest first")));
    }

    #[test]
    fn other_json_and_bad_values_name_the_field() {
        assert!(rows(r#"{"a":1}"#)
            .unwrap_err()
            .contains("neither a Prometheus"));
        let err =
            rows(r#"{"data":{"resultType":"matrix","result":[{"values":[[1700000000,"-1"]]}]}}"#)
                .unwrap_err();
        assert!(err.contains("data.result[0].values[0]"), "{err}");
        let err = rows(r#"{"MetricDataResults":[{"Timestamps":["x"],"Values":[1]}]}"#).unwrap_err();
        assert!(err.contains("MetricDataResults[0].Timestamps[0]"), "{err}");
    }
}
