//! Scalar UDFs where KQL semantics differ from DataFusion's built-ins.
//!
//! Every KQL function implemented here is a plain Rust `fn(&Args) -> Result<ArrayRef>` wrapped
//! in one generic [`KqlUdf`] (name + fixed return type). The binder decides the return type
//! (from KQL typing rules) and builds the call with [`call`]. Submodules: [`strings`] (case-
//! insensitive and term-matching predicates, regex, split, …), [`dynamic`] (JSON values: member
//! access, parse_json, conversions, pack), [`time`] (datetime parts and arithmetic).
//! [`values`] renders Arrow values as KQL text / JSON (shared with result output).

pub mod dynamic;
pub mod series;
pub mod size;
pub mod strings;
pub mod time;
pub mod values;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, LargeStringArray, StringArray, StringViewArray};
use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::{DataFusionError, Result as DFResult, ScalarValue};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// A KQL function body over evaluated arguments.
pub type UdfFn = fn(&Args) -> DFResult<ArrayRef>;

/// Generic scalar UDF: a name, a fixed return type and a body. Equality and hashing use the
/// name and return type (each body has its own name).
#[derive(Debug)]
pub struct KqlUdf {
    name: String,
    ret: DataType,
    signature: Signature,
    func: UdfFn,
}

impl PartialEq for KqlUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.ret == other.ret
    }
}
impl Eq for KqlUdf {}
impl std::hash::Hash for KqlUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
        self.ret.hash(state);
    }
}

impl ScalarUDFImpl for KqlUdf {
    fn name(&self) -> &str {
        &self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> DFResult<DataType> {
        Ok(self.ret.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DFResult<ColumnarValue> {
        let a = Args { cols: args.args, fields: args.arg_fields, n: args.number_rows };
        let out = (self.func)(&a)?;
        if out.data_type() != &self.ret {
            let cast = datafusion::arrow::compute::cast(&out, &self.ret)?;
            return Ok(ColumnarValue::Array(cast));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// Builds `name(args)` with a fixed return type.
pub fn call(name: &str, ret: DataType, func: UdfFn, args: Vec<Expr>) -> Expr {
    let udf = KqlUdf { name: name.to_string(), ret, signature: Signature::variadic_any(Volatility::Immutable), func };
    ScalarUDF::new_from_impl(udf).call(args)
}

/// Evaluated arguments of one call over a batch of `n` rows.
pub struct Args {
    pub cols: Vec<ColumnarValue>,
    /// The arguments' fields (with their metadata), where DataFusion knows them.
    pub fields: Vec<FieldRef>,
    pub n: usize,
}

/// Read access to a string argument (array of any string type, or a scalar).
pub enum StrCol<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
    Scalar(Option<&'a str>),
}

impl StrCol<'_> {
    #[inline]
    pub fn get(&self, i: usize) -> Option<&str> {
        match self {
            StrCol::Utf8(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::Large(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::View(a) => (!a.is_null(i)).then(|| a.value(i)),
            StrCol::Scalar(s) => *s,
        }
    }
    /// The value when this is a scalar argument.
    pub fn scalar(&self) -> Option<Option<&str>> {
        match self {
            StrCol::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

fn exec_err(msg: String) -> DataFusionError {
    DataFusionError::Execution(msg)
}

impl Args {
    pub fn len(&self) -> usize {
        self.cols.len()
    }
    pub fn is_empty(&self) -> bool {
        self.cols.is_empty()
    }
    /// String accessor for argument `i`.
    pub fn str(&self, i: usize) -> DFResult<StrCol<'_>> {
        let cv = self.cols.get(i).ok_or_else(|| exec_err(format!("missing argument {i}")))?;
        Ok(match cv {
            ColumnarValue::Scalar(s) => match s {
                ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => {
                    StrCol::Scalar(v.as_deref())
                }
                ScalarValue::Null => StrCol::Scalar(None),
                other => return Err(exec_err(format!("expected a string argument, got {}", other.data_type()))),
            },
            ColumnarValue::Array(a) => match a.data_type() {
                DataType::Utf8 => StrCol::Utf8(a.as_any().downcast_ref().expect("utf8")),
                DataType::LargeUtf8 => StrCol::Large(a.as_any().downcast_ref().expect("large utf8")),
                DataType::Utf8View => StrCol::View(a.as_any().downcast_ref().expect("utf8 view")),
                DataType::Null => StrCol::Scalar(None),
                other => return Err(exec_err(format!("expected a string argument, got {other}"))),
            },
        })
    }
    /// Argument `i` is dynamic text that its source guarantees to be valid JSON (the field
    /// carries [`keelwatch_jsonscan::VALID_JSON_METADATA_KEY`], as workspace tables' do).
    pub fn valid_json(&self, i: usize) -> bool {
        self.fields
            .get(i)
            .and_then(|f| f.metadata().get(keelwatch_jsonscan::VALID_JSON_METADATA_KEY))
            .map(String::as_str)
            == Some(keelwatch_jsonscan::VALID_JSON_METADATA_VALUE)
    }
    /// Argument `i` as an array of `n` rows.
    pub fn array(&self, i: usize) -> DFResult<ArrayRef> {
        let cv = self.cols.get(i).ok_or_else(|| exec_err(format!("missing argument {i}")))?;
        cv.to_array(self.n)
    }
    /// Argument `i` when it is a scalar string (a literal).
    pub fn lit_str(&self, i: usize) -> Option<String> {
        match self.cols.get(i) {
            Some(ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)))) => Some(s.clone()),
            _ => None,
        }
    }
    /// Argument `i` when it is a scalar integer.
    pub fn lit_i64(&self, i: usize) -> Option<i64> {
        match self.cols.get(i) {
            Some(ColumnarValue::Scalar(s)) => match s {
                ScalarValue::Int64(v) => *v,
                ScalarValue::Int32(v) => v.map(i64::from),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Shorthand for building a `Arc<dyn Array>`.
pub fn arc<A: Array + 'static>(a: A) -> ArrayRef {
    Arc::new(a)
}
