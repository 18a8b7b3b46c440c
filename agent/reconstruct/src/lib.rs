//! shadowtap reconstruct.
