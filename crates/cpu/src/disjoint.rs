//! An output slice that parallel tasks write through, each to elements no other task touches:
//! the tasks of a product own rows of a `[tokens, rows]` output, attention's own heads of a
//! `[heads, seq, head_dim]` one, so their parts are strided and `chunks_mut` cannot hand them out.

use std::marker::PhantomData;

pub(crate) struct DisjointOut<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: PhantomData<&'a mut [f32]>,
}

// SAFETY: tasks write disjoint elements (the contract of `slice`), so sharing the pointer
// between threads cannot race; the borrow keeps the slice alive and unaliased meanwhile.
unsafe impl Send for DisjointOut<'_> {}
unsafe impl Sync for DisjointOut<'_> {}

impl<'a> DisjointOut<'a> {
    pub fn new(out: &'a mut [f32]) -> Self {
        DisjointOut { ptr: out.as_mut_ptr(), len: out.len(), _borrow: PhantomData }
    }

    /// Elements `at..at + n`.
    ///
    /// # Safety
    /// No other task may access these elements while the returned slice lives.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice(&self, at: usize, n: usize) -> &mut [f32] {
        assert!(at + n <= self.len, "output range {at}..{} of {}", at + n, self.len);
        // SAFETY: in bounds (checked), exclusive by the caller's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), n) }
    }
}
