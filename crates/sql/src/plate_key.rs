//! `plate_key`: a keyed hash of the plate, so analysts can count distinct vehicles without ever
//! handling a plate.
//!
//! The key is drawn when the server starts and never stored, so values are equal within one run
//! and unrelated across runs: a key value that escaped could not be matched to a plate (the plate
//! space is small enough to hash exhaustively, which is why the hash is keyed) nor to the same
//! vehicle after a restart. The values never escape anyway: the policy lets `plate_key` appear only
//! inside `count(DISTINCT plate_key)` or `approx_distinct(plate_key)` (see [`crate::policy`]), so
//! a query gets how many vehicles, never which. The function is not registered in the session: it
//! is applied by the plate reads table when it reads the `plate` column, which stays hidden.

use datafusion::arrow::array::{Array, ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::sync::Arc;

/// The column's name in `plate_reads`.
pub const PLATE_KEY: &str = "plate_key";

/// The keyed hash, as a DataFusion scalar function over the `plate` column.
#[derive(Debug, Clone)]
pub struct PlateKey {
    /// SipHash-1-3 with a random 128-bit key (the standard library's), drawn once per process.
    key: RandomState,
    signature: Signature,
}

impl PlateKey {
    /// A function with a fresh key.
    pub fn new() -> PlateKey {
        PlateKey { key: RandomState::new(), signature: Signature::any(1, Volatility::Immutable) }
    }

    /// The key of one plate.
    pub fn of(&self, plate: &str) -> u64 {
        self.key.hash_one(plate)
    }

    /// Identifies the key without revealing it (functions compare equal when their keys do).
    fn fingerprint(&self) -> u64 {
        self.key.hash_one(0u8)
    }
}

impl Default for PlateKey {
    fn default() -> PlateKey {
        PlateKey::new()
    }
}

impl PartialEq for PlateKey {
    fn eq(&self, other: &PlateKey) -> bool {
        self.fingerprint() == other.fingerprint()
    }
}

impl Eq for PlateKey {}

impl Hash for PlateKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.fingerprint().hash(state);
    }
}

impl ScalarUDFImpl for PlateKey {
    fn name(&self) -> &str {
        PLATE_KEY
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::UInt64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [plates] = args.args.as_slice() else {
            return Err(DataFusionError::Internal("plate_key takes the plate column".into()));
        };
        let plates = plates.to_array(args.number_rows)?;
        // Segments hold plates as UTF-8; the reader may hand them over as views or large strings.
        let plates = if plates.data_type() == &DataType::Utf8 { plates } else { cast(&plates, &DataType::Utf8)? };
        let plates =
            plates.as_any().downcast_ref::<StringArray>().ok_or_else(|| DataFusionError::Internal("plate column is not text".into()))?;
        let keys: UInt64Array = plates.iter().map(|plate| plate.map(|p| self.of(p))).collect();
        Ok(ColumnarValue::Array(Arc::new(keys) as ArrayRef))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_plates_share_a_key_and_keys_differ_between_runs() {
        let key = PlateKey::new();
        assert_eq!(key.of("ABC123"), key.of("ABC123"));
        assert_ne!(key.of("ABC123"), key.of("ABC124"));
        let other_run = PlateKey::new();
        assert_ne!(key.of("ABC123"), other_run.of("ABC123"), "a fresh key per start");
        assert_ne!(key, other_run);
    }
}
