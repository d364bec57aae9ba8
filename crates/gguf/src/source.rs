//! Where GGUF bytes come from.
//!
//! A native program memory-maps a file; the browser holds a `File` it can only read slice by
//! slice, and never the whole of an 8B model. Both sit behind [`ByteSource`], which reads byte
//! ranges, and [`Prefix`] lets a header be parsed from the first bytes of a file alone.

use crate::error::ErrorKind;

/// Random-access bytes of known length.
pub trait ByteSource: Send + Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;

    /// Fills `buf` with the bytes starting at `offset`; the range lies within `len()`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind>;

    /// All the bytes, when they are already in memory (a memory map), for zero-copy access.
    fn as_bytes(&self) -> Option<&[u8]> {
        None
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ByteSource for [u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        let start = offset as usize;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        self.as_slice().read_at(offset, buf)
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

#[cfg(feature = "mmap")]
impl ByteSource for memmap2::Mmap {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        self[..].read_at(offset, buf)
    }

    fn as_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// An open file read with positioned reads, for platforms or files where mapping is not wanted.
#[cfg(any(unix, windows))]
pub struct FileSource {
    file: std::fs::File,
    len: u64,
}

#[cfg(any(unix, windows))]
impl FileSource {
    pub fn new(file: std::fs::File) -> std::io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

#[cfg(any(unix, windows))]
impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    #[cfg(unix)]
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        use std::os::unix::fs::FileExt;
        Ok(self.file.read_exact_at(buf, offset)?)
    }

    #[cfg(windows)]
    fn read_at(&self, mut offset: u64, mut buf: &mut [u8]) -> Result<(), ErrorKind> {
        use std::os::windows::fs::FileExt;
        while !buf.is_empty() {
            match self.file.seek_read(buf, offset)? {
                0 => return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// The first bytes of a longer file. Reading past them fails with
/// [`ErrorKind::NeedMoreBytes`], which tells the caller how much more to load.
pub struct Prefix<'a> {
    bytes: &'a [u8],
    file_len: u64,
}

impl<'a> Prefix<'a> {
    /// `bytes` are the first bytes of a file that is `file_len` bytes long.
    pub fn new(bytes: &'a [u8], file_len: u64) -> Self {
        Prefix { bytes, file_len: file_len.max(bytes.len() as u64) }
    }
}

impl ByteSource for Prefix<'_> {
    fn len(&self) -> u64 {
        self.file_len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ErrorKind> {
        let end = offset + buf.len() as u64;
        if end > self.bytes.len() as u64 {
            return Err(ErrorKind::NeedMoreBytes { available: self.bytes.len() as u64, up_to: end });
        }
        self.bytes.read_at(offset, buf)
    }
}
