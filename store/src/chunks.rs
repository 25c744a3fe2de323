//! Multi-row statements in power-of-two sizes. A statement's text depends
//! on its row count, and the driver caches prepared statements by text
//! (a hundred per connection): rows written in chunks of 1, 2, 4, … up to
//! a maximum keep each table to a handful of texts whatever the batch, so
//! the cache keeps hitting instead of preparing a new statement per size.

/// The sizes, powers of two and at most `max` (itself a power of two),
/// that `rows` rows are written in, largest first.
pub fn sizes(mut rows: usize, max: usize) -> impl Iterator<Item = usize> {
    debug_assert!(max.is_power_of_two());
    std::iter::from_fn(move || {
        if rows == 0 {
            return None;
        }
        let size = if rows >= max { max } else { 1 << rows.ilog2() };
        rows -= size;
        Some(size)
    })
}

/// `items` cut into chunks of [`sizes`].
pub fn split<T>(items: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    sizes(items.len(), max).map(move |size| {
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        chunk
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_powers_of_two_and_cover_every_row() {
        for rows in 0..300 {
            let sizes: Vec<usize> = sizes(rows, 64).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows);
            assert!(sizes.iter().all(|s| s.is_power_of_two() && *s <= 64));
        }
        assert_eq!(sizes(64, 64).collect::<Vec<_>>(), [64]);
        assert_eq!(sizes(45, 64).collect::<Vec<_>>(), [32, 8, 4, 1]);
        let items: Vec<u32> = (0..45).collect();
        let chunks: Vec<&[u32]> = split(&items, 64).collect();
        assert_eq!(
            chunks.iter().map(|c| c.len()).collect::<Vec<_>>(),
            [32, 8, 4, 1]
        );
        assert_eq!(chunks.concat(), items);
    }
}
