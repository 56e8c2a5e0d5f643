//! The socket under each server connection: reads pass through; writes gather until the
//! connection flushes.
//!
//! tungstenite hands each frame to the socket as soon as it is queued, so a connection
//! that sends five messages in one go makes five system calls, and on loopback each call
//! also runs the receiving side of TCP. Gathering them makes one call per batch. The
//! gathered bytes are given back to the allocator once written, so an idle connection
//! holds no write buffer here.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Most bytes gathered before they are written without waiting for a flush, so a large
/// batch never needs a large buffer.
const MAX_GATHERED: usize = 64 * 1024;

/// A stream whose writes reach the inner stream when it is flushed, or when
/// [`MAX_GATHERED`] bytes are waiting.
#[derive(Debug)]
pub(crate) struct GatheredWrites<S> {
    inner: S,
    gathered: Vec<u8>,
    /// How much of `gathered` the inner stream has taken.
    written: usize,
}

impl<S> GatheredWrites<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            gathered: Vec::new(),
            written: 0,
        }
    }
}

impl<S: AsyncWrite + Unpin> GatheredWrites<S> {
    /// Writes everything gathered to the inner stream, then frees the buffer.
    fn poll_write_gathered(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.gathered.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.gathered[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.gathered = Vec::new();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GatheredWrites<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GatheredWrites<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.gathered.len() + buf.len() > MAX_GATHERED {
            ready!(this.poll_write_gathered(cx))?;
            if buf.len() >= MAX_GATHERED {
                return Pin::new(&mut this.inner).poll_write(cx, buf);
            }
        }
        this.gathered.extend_from_slice(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_gathered(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_gathered(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_reach_the_peer_at_the_flush_in_order_and_the_buffer_is_given_back() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut stream = GatheredWrites::new(near);
        stream.write_all(b"one,").await.unwrap();
        stream.write_all(b"two").await.unwrap();
        let mut probe = [0u8; 8];
        assert!(
            far.read(&mut probe).now_or_never().is_none(),
            "nothing is written before the flush"
        );
        stream.flush().await.unwrap();
        assert_eq!(stream.gathered.capacity(), 0);
        let mut got = [0u8; 7];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"one,two");
    }

    #[tokio::test]
    async fn a_large_batch_is_written_as_it_grows_and_arrives_whole() {
        let (near, mut far) = tokio::io::duplex(1 << 20);
        let mut stream = GatheredWrites::new(near);
        let chunk: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        for _ in 0..200 {
            stream.write_all(&chunk).await.unwrap();
            assert!(stream.gathered.len() <= MAX_GATHERED);
        }
        stream.flush().await.unwrap();
        drop(stream);
        let mut all = Vec::new();
        far.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), 200 * 1000);
        assert!(all.chunks(1000).all(|c| c == chunk.as_slice()));
    }
}
