//! What SQL may ask: read-only statements whose every scan of an observation table feeds an
//! aggregate from a closed list. Row-level output is refused, and so are aggregates that hand rows
//! back (`array_agg`, `string_agg`, `first_value`, …): analysts get figures, not records.
//!
//! The check runs on the optimised logical plan, after views are inlined and subqueries decorrelated,
//! so no query shape can hide a raw scan. Catalog tables (`pg_catalog`, `information_schema`) hold no
//! observations and stay readable, so SQL clients can discover the schema.

use crate::tables::table_name;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan};
use glasshouse_model::Kind;

/// Aggregate functions an analyst may apply to observation rows.
pub const ALLOWED_AGGREGATES: [&str; 14] = [
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "median",
    "stddev",
    "stddev_pop",
    "var",
    "var_pop",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
];

fn is_observation_table(name: &str) -> bool {
    Kind::ALL.iter().any(|k| table_name(*k) == name)
}

/// Why a query is refused, or the observation tables it reads.
pub fn check(plan: &LogicalPlan) -> Result<Vec<String>, String> {
    let mut tables = Vec::new();
    walk(plan, false, &mut tables)?;
    tables.sort();
    tables.dedup();
    Ok(tables)
}

fn walk(plan: &LogicalPlan, under_aggregate: bool, tables: &mut Vec<String>) -> Result<(), String> {
    let mut error = None;
    // Subqueries left in expressions (those the optimiser could not turn into joins) are plans too.
    let _ = plan.apply_expressions(|expr| {
        expr.apply(|e| {
            let nested = match e {
                Expr::ScalarSubquery(s) => Some(&s.subquery),
                Expr::Exists(e) => Some(&e.subquery.subquery),
                Expr::InSubquery(i) => Some(&i.subquery.subquery),
                _ => None,
            };
            if let Some(nested) = nested
                && let Err(e) = walk(nested, false, tables)
            {
                error = Some(e);
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        })
    });
    if let Some(e) = error {
        return Err(e);
    }
    match plan {
        LogicalPlan::TableScan(scan) => {
            let name = scan.table_name.table().to_owned();
            if is_observation_table(&name) {
                if !under_aggregate {
                    return Err(format!(
                        "{name} can only be aggregated (count, sum, avg, min, max, …): this interface returns figures, not rows"
                    ));
                }
                tables.push(name);
            }
            Ok(())
        }
        LogicalPlan::Aggregate(aggregate) => {
            for expr in &aggregate.aggr_expr {
                let mut refused = None;
                let _ = expr.apply(|e| {
                    if let Expr::AggregateFunction(f) = e {
                        let name = f.func.name().to_lowercase();
                        if !ALLOWED_AGGREGATES.contains(&name.as_str()) {
                            refused = Some(name);
                            return Ok(TreeNodeRecursion::Stop);
                        }
                    }
                    Ok(TreeNodeRecursion::Continue)
                });
                if let Some(name) = refused {
                    return Err(format!("the aggregate {name} is not allowed; use one of {}", ALLOWED_AGGREGATES.join(", ")));
                }
            }
            walk(&aggregate.input, true, tables)
        }
        // A window function hands back one value per row: not an aggregate for this purpose.
        LogicalPlan::Window(window) => walk(&window.input, false, tables),
        other => other.inputs().into_iter().try_for_each(|input| walk(input, under_aggregate, tables)),
    }
}
