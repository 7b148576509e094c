//! smolproxy: a small HTTP/HTTPS forward proxy on the smol runtime.
