//! What SQL may ask: read-only statements whose every scan of an observation table feeds an
//! aggregate from a closed list. Row-level output is refused, and so are aggregates that hand rows
//! back (`array_agg`, `string_agg`, `first_value`, …): analysts get figures, not records.
//!
//! The check runs on the optimised logical plan, after views are inlined and subqueries decorrelated,
//! so no query shape can hide a raw scan. Catalog tables (`pg_catalog`, `information_schema`) hold no
//! observations and stay readable, so SQL clients can discover the schema.
//!
//! `plate_key` (a keyed hash of the plate) may only be counted: `count(DISTINCT plate_key)` or
//! `approx_distinct(plate_key)`, how many vehicles, never which. Grouping, filtering or returning
//! by it would follow one vehicle around, which this interface must not do. That rule is checked
//! on the plan as written, before the optimiser rewrites a distinct count into a `GROUP BY
//! plate_key` of its own.

use crate::plate_key::PLATE_KEY;
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

/// Why a query is refused, or the observation tables it reads. `planned` is the plan as written
/// (analysed, not optimised), `optimized` the plan that will run.
pub fn check(planned: &LogicalPlan, optimized: &LogicalPlan) -> Result<Vec<String>, String> {
    let mut tables = Vec::new();
    walk(optimized, false, &mut tables)?;
    plate_key_only_counted(planned)?;
    tables.sort();
    tables.dedup();
    Ok(tables)
}

/// Refuses `plate_key` anywhere but as the whole argument of a distinct count.
fn plate_key_only_counted(plan: &LogicalPlan) -> Result<(), String> {
    let refusal = || {
        format!(
            "{PLATE_KEY} can only be counted: count(DISTINCT {PLATE_KEY}) or approx_distinct({PLATE_KEY}) (how many vehicles, never which)"
        )
    };
    let mut refused = false;
    let _ = plan.apply_with_subqueries(|node| {
        let counted: Vec<&Expr> = match node {
            LogicalPlan::Aggregate(aggregate) => aggregate.aggr_expr.iter().filter(|e| counts_plate_keys(e)).collect(),
            _ => Vec::new(),
        };
        let _ = node.apply_expressions(|expr| {
            if counted.iter().any(|c| std::ptr::eq(*c, expr)) {
                return Ok(TreeNodeRecursion::Continue);
            }
            let _ = expr.apply(|e| {
                if matches!(e, Expr::Column(c) if c.name == PLATE_KEY) {
                    refused = true;
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            });
            Ok(if refused { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        });
        Ok(if refused { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
    });
    if refused { Err(refusal()) } else { Ok(()) }
}

/// `count(DISTINCT plate_key)` or `approx_distinct(plate_key)`, possibly named.
fn counts_plate_keys(expr: &Expr) -> bool {
    let expr = match expr {
        Expr::Alias(alias) => alias.expr.as_ref(),
        other => other,
    };
    let Expr::AggregateFunction(f) = expr else { return false };
    let name = f.func.name().to_lowercase();
    let counting = (name == "count" && f.params.distinct) || name == "approx_distinct";
    counting && f.params.filter.is_none() && matches!(f.params.args.as_slice(), [Expr::Column(c)] if c.name == PLATE_KEY)
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
