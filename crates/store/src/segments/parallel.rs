//! Work shared between the two cores while a segment is written: the builder's steps are each
//! large enough (millions of rows) to split, and small enough in number to split by hand.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `each(i)` for every `i` below `count`, taken in turn by this thread and one helper; the results
/// come back in index order, or the first error either thread met.
pub(super) fn map_on_two_cores<R: Send, E: Send>(count: usize, each: impl Fn(usize) -> Result<R, E> + Sync) -> Result<Vec<R>, E> {
    let next = AtomicUsize::new(0);
    let work = || -> Result<Vec<(usize, R)>, E> {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                return Ok(done);
            }
            done.push((i, each(i)?));
        }
    };
    let (mine, theirs) = std::thread::scope(|scope| {
        let helper = scope.spawn(work);
        let mine = work();
        (mine, helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    });
    let mut results: Vec<(usize, R)> = mine?.into_iter().chain(theirs?).collect();
    results.sort_by_key(|(i, _)| *i);
    Ok(results.into_iter().map(|(_, result)| result).collect())
}

/// Sorts the two halves on two cores and merges them: the sort is the part of a large segment's
/// build that runs before the Parquet file and the index can start side by side.
pub(super) fn sort_on_two_cores<T: Copy + Send + Sync>(mut items: Vec<T>, compare: impl Fn(&T, &T) -> std::cmp::Ordering + Sync) -> Vec<T> {
    const SPLIT_MIN: usize = 64 * 1024;
    if items.len() < SPLIT_MIN {
        items.sort_unstable_by(&compare);
        return items;
    }
    let half = items.len() / 2;
    {
        let (left, right) = items.split_at_mut(half);
        std::thread::scope(|scope| {
            let helper = scope.spawn(|| left.sort_unstable_by(&compare));
            right.sort_unstable_by(&compare);
            helper.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        });
    }
    let (left, right) = items.split_at(half);
    let mut merged = Vec::with_capacity(items.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if compare(&right[j], &left[i]).is_lt() {
            merged.push(right[j]);
            j += 1;
        } else {
            merged.push(left[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&left[i..]);
    merged.extend_from_slice(&right[j..]);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_core_sort_sorts_like_one() {
        // Past the split threshold, with many ties, so both halves and the merge are exercised.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let items: Vec<(u32, u32)> = (0..200_000u32)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state % 5_000) as u32, i)
            })
            .collect();
        let mut expected = items.clone();
        expected.sort_unstable();
        assert_eq!(sort_on_two_cores(items, |a, b| a.cmp(b)), expected);
    }

    #[test]
    fn mapped_results_keep_their_order_and_an_error_comes_back() {
        let squares: Result<Vec<usize>, String> = map_on_two_cores(1_000, |i| Ok(i * i));
        assert_eq!(squares.unwrap(), (0..1_000).map(|i| i * i).collect::<Vec<_>>());
        let failed: Result<Vec<usize>, String> = map_on_two_cores(100, |i| if i == 57 { Err(format!("item {i}")) } else { Ok(i) });
        assert_eq!(failed.unwrap_err(), "item 57");
    }
}
