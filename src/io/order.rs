//! Stable reordering of parallel columns (a trace's rows sorted by arrival).

/// The stable order that sorts `keys`, or `None` when they are already sorted. Apply it to
/// each parallel column with [`permuted`].
pub fn sort_order<K: Ord>(keys: &[K]) -> Option<Vec<u32>> {
    if keys.is_sorted() {
        return None;
    }
    let mut idx: Vec<u32> = (0..keys.len() as u32).collect();
    idx.sort_by(|&a, &b| keys[a as usize].cmp(&keys[b as usize]));
    Some(idx)
}

/// `v` reordered by `order` (from [`sort_order`]).
pub fn permuted<T: Copy>(v: &[T], order: &[u32]) -> Vec<T> {
    order.iter().map(|&i| v[i as usize]).collect()
}
