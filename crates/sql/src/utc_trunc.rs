//! `date_trunc` with a fast path for UTC timestamps.
//!
//! Every segment timestamp is `Timestamp(µs, "UTC")`, and the analysts' commonest query buckets it
//! by hour or day. DataFusion truncates hours and days by arithmetic only when a timestamp has no
//! zone; with any zone, even UTC, it converts each value to a calendar date and back, which a
//! profile of the hourly-cells aggregate put at two thirds of the query. In UTC (and at offset
//! zero) every hour and day has the same length, so truncation is integer division there. This
//! wrapper does that and hands every other case (other zones, weeks, months, strings, scalars) to
//! DataFusion's own function unchanged.

use datafusion::arrow::array::{Array, ArrayRef, PrimitiveArray};
use datafusion::arrow::datatypes::{
    ArrowTimestampType, DataType, FieldRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};
use datafusion::common::{Result, ScalarValue};
use datafusion::functions::datetime::date_trunc::DateTruncFunc;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature};
use std::sync::Arc;

/// DataFusion's `date_trunc`, with hours and days of UTC timestamp arrays truncated by division.
#[derive(Debug, Default, PartialEq, Eq, Hash)]
pub struct UtcDateTrunc {
    inner: DateTruncFunc,
}

impl UtcDateTrunc {
    /// The function, to register in place of the built-in one.
    pub fn new() -> UtcDateTrunc {
        UtcDateTrunc::default()
    }
}

/// Zone names that mean offset zero at every instant.
fn is_utc(zone: &str) -> bool {
    matches!(zone, "UTC" | "utc" | "Z" | "+00:00" | "+0000" | "+00" | "Etc/UTC" | "GMT")
}

/// The period of `granularity` in seconds, when it is an hour or a day.
fn uniform_period_seconds(args: &[ColumnarValue]) -> Option<i64> {
    let ColumnarValue::Scalar(ScalarValue::Utf8(Some(g)) | ScalarValue::Utf8View(Some(g)) | ScalarValue::LargeUtf8(Some(g))) =
        args.first()?
    else {
        return None;
    };
    match g.to_ascii_lowercase().as_str() {
        "hour" => Some(3_600),
        "day" => Some(86_400),
        _ => None,
    }
}

fn truncate<T: ArrowTimestampType>(array: &dyn Array, period: i64) -> Option<ArrayRef> {
    let array = array.as_any().downcast_ref::<PrimitiveArray<T>>()?;
    let zone = array.timezone().map(Arc::from);
    // Nulls carry through `unary`; `div_euclid` rounds times before 1970 down, as the calendar does.
    let truncated: PrimitiveArray<T> = array.unary(|v| v.div_euclid(period) * period);
    Some(Arc::new(truncated.with_timezone_opt(zone)))
}

/// The fast path's answer, or `None` where DataFusion's function must decide.
fn utc_fast_path(args: &[ColumnarValue]) -> Option<ArrayRef> {
    let seconds = uniform_period_seconds(args)?;
    let ColumnarValue::Array(array) = args.get(1)? else { return None };
    let DataType::Timestamp(unit, Some(zone)) = array.data_type() else { return None };
    if !is_utc(zone) {
        return None;
    }
    match unit {
        TimeUnit::Second => truncate::<TimestampSecondType>(array, seconds),
        TimeUnit::Millisecond => truncate::<TimestampMillisecondType>(array, seconds * 1_000),
        TimeUnit::Microsecond => truncate::<TimestampMicrosecondType>(array, seconds * 1_000_000),
        TimeUnit::Nanosecond => truncate::<TimestampNanosecondType>(array, seconds * 1_000_000_000),
    }
}

impl ScalarUDFImpl for UtcDateTrunc {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match utc_fast_path(&args.args) {
            Some(truncated) => Ok(ColumnarValue::Array(truncated)),
            None => self.inner.invoke_with_args(args),
        }
    }

    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(input)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::TimestampMicrosecondArray;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;
    use proptest::prelude::*;

    /// Calls a `date_trunc` implementation on one array, as the executor would.
    fn call(function: &dyn ScalarUDFImpl, granularity: &str, values: &TimestampMicrosecondArray) -> TimestampMicrosecondArray {
        let values: ArrayRef = Arc::new(values.clone());
        let arg_fields =
            vec![Arc::new(Field::new("g", DataType::Utf8, false)), Arc::new(Field::new("t", values.data_type().clone(), true))];
        let args = ScalarFunctionArgs {
            args: vec![ColumnarValue::Scalar(ScalarValue::Utf8(Some(granularity.into()))), ColumnarValue::Array(values.clone())],
            arg_fields: arg_fields.clone(),
            number_rows: values.len(),
            return_field: Arc::new(Field::new("date_trunc", values.data_type().clone(), true)),
            config_options: Arc::new(ConfigOptions::default()),
        };
        let ColumnarValue::Array(out) = function.invoke_with_args(args).unwrap() else { panic!("an array in, an array out") };
        out.as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap().clone()
    }

    fn micros(values: &[Option<i64>], zone: &str) -> TimestampMicrosecondArray {
        TimestampMicrosecondArray::from(values.to_vec()).with_timezone(zone)
    }

    #[test]
    fn utc_hours_and_days_truncate_by_division_including_before_1970_and_nulls() {
        let values = micros(&[Some(3_599_999_999), Some(3_600_000_000), Some(-1), None, Some(86_400_000_000 + 5)], "UTC");
        let hours = call(&UtcDateTrunc::new(), "hour", &values);
        assert_eq!(hours.iter().collect::<Vec<_>>(), [Some(0), Some(3_600_000_000), Some(-3_600_000_000), None, Some(86_400_000_000)]);
        assert_eq!(hours.timezone(), Some("UTC"), "the zone is kept");
        let days = call(&UtcDateTrunc::new(), "DAY", &values);
        assert_eq!(days.value(2), -86_400_000_000);
    }

    #[test]
    fn other_zones_and_granularities_are_datafusions() {
        // Midnight in Helsinki (UTC+3 on this date) is 21:00 UTC the day before.
        let noon_utc = 1_780_000_000_000_000 - 1_780_000_000_000_000 % 86_400_000_000 + 43_200_000_000;
        let values = micros(&[Some(noon_utc)], "Europe/Helsinki");
        let day = call(&UtcDateTrunc::new(), "day", &values);
        assert_eq!(day.value(0), noon_utc - 43_200_000_000 - 3 * 3_600_000_000);
        let month = call(&UtcDateTrunc::new(), "month", &micros(&[Some(noon_utc)], "UTC"));
        assert_eq!(month.value(0), call(&DateTruncFunc::new(), "month", &micros(&[Some(noon_utc)], "UTC")).value(0));
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_datafusion(
            values in proptest::collection::vec(proptest::option::of(-4_000_000_000_000_000i64..4_000_000_000_000_000), 1..40),
            granularity in prop_oneof!["hour", "day"],
        ) {
            let values = micros(&values, "UTC");
            prop_assert_eq!(call(&UtcDateTrunc::new(), &granularity, &values), call(&DateTruncFunc::new(), &granularity, &values));
        }
    }
}
