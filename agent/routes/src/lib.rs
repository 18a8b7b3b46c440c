//! shadowtap routes.
