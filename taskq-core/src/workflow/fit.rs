//! Whether a step's result can be the params of the step it feeds, judged
//! by the JSON types the two schemas allow at their root: a workflow built
//! from names is refused when no value could fit (a typed one is checked
//! by the compiler). Where either schema does not say (any value, a
//! reference, a combination), nothing is refused.

use schemars::Schema;
use serde_json::Value;

/// The JSON types `schema` allows at its root, or `None` when it does not
/// name them.
fn root_types(schema: &Value) -> Option<Vec<&str>> {
    match schema.as_object()?.get("type")? {
        Value::String(one) => Some(vec![one.as_str()]),
        Value::Array(many) => many.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// Whether a value of JSON type `given` can pass `taker`'s types.
fn accepts(taker: &[&str], given: &str) -> bool {
    taker.contains(&given) || (given == "integer" && taker.contains(&"number"))
}

fn misfit_of(result: &Value, params: &Value) -> Option<String> {
    let (given, taker) = (root_types(result)?, root_types(params)?);
    if given.iter().any(|t| accepts(&taker, t)) {
        return None;
    }
    Some(format!(
        "its result is {}, the params take {}",
        given.join(" or "),
        taker.join(" or ")
    ))
}

/// Why a result of schema `result` can never be params of schema `params`
/// (input `result`), or `None`.
pub(super) fn misfit(result: &Schema, params: &Schema) -> Option<String> {
    misfit_of(result.as_value(), params.as_value())
}

/// Why a result of schema `result` can never be an item of the array that
/// `params` takes (input `results`: the parents' results in order), or
/// `None`.
pub(super) fn misfit_item(result: &Schema, params: &Schema) -> Option<String> {
    let params = params.as_value();
    let taker = root_types(params)?;
    if !taker.contains(&"array") {
        return Some(format!(
            "the params take {}, but input `results` is an array",
            taker.join(" or ")
        ));
    }
    let items = params.as_object()?.get("items")?;
    misfit_of(result.as_value(), items).map(|why| format!("{why} (as the array's items)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::params_schema;

    #[test]
    fn root_types_decide_only_where_both_schemas_say() {
        let int = params_schema::<u32>();
        let float = params_schema::<f64>();
        let text = params_schema::<String>();
        let maybe_int = params_schema::<Option<u32>>();
        let any = params_schema::<Value>();
        let ints = params_schema::<Vec<u64>>();
        assert_eq!(misfit(&int, &float), None, "an integer is a number");
        assert_eq!(misfit(&maybe_int, &int), None, "some values fit");
        assert_eq!(misfit(&any, &text), None, "any value: not judged");
        assert_eq!(misfit(&int, &any), None);
        assert_eq!(
            misfit(&int, &text).as_deref(),
            Some("its result is integer, the params take string")
        );
        assert_eq!(misfit_item(&int, &ints), None);
        assert!(misfit_item(&text, &ints).is_some());
        assert!(misfit_item(&int, &text).is_some(), "results need an array");
    }
}
