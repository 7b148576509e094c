//! The `--help` text: every flag, grouped as a user looks for them, with
//! examples. Kept beside the parser so the two change together.

/// The `--help` text.
pub const HELP: &str = "\
smolproxy — a small, fast HTTP/HTTPS forward proxy

USAGE:
    smolproxy [OPTIONS]

Point browsers, curl (-x), apt and phones at it as their HTTP and HTTPS proxy.
Plain http:// requests are forwarded; https:// goes through CONNECT tunnels.
SOCKS5 clients may use the same port.

LISTENING:
    --listen ADDR              Address to listen on; repeat for several
                               (IPv4, [IPv6]:PORT, or a bare PORT = 127.0.0.1:PORT)
                               [default: 127.0.0.1:8888]
    --transparent ADDR         Also accept connections a firewall redirected here
                               (nftables `redirect`): HTTP by Host, TLS by SNI,
                               to their original destination; repeatable [default: none]
    --threads N                Executor threads [default: CPUs, at most 4]
    --max-clients N            Concurrent client connections; beyond it a new
                               client gets 503 and is closed [default: 1024]
    --dns-threads N            Threads for name lookups [default: 4]
    --user NAME                After binding, drop to NAME's uid, gid and groups
                               (start as root to bind ports below 1024)

TIMEOUTS (30 = 30s; units ms, s, m, h):
    --connect-timeout T        Upstream connect, and DNS lookup [default: 10s]
    --head-timeout T           Whole request head, once begun [default: 20s]
    --idle-timeout T           Idle keep-alive client connection [default: 60s]
    --read-timeout T           Silence during an exchange (504/close) [default: 120s]
    --tunnel-idle-timeout T    CONNECT tunnel with no traffic [default: 600s]
    --drain-timeout T          Grace for in-flight work on SIGINT/SIGTERM [default: 10s]

WHO MAY USE IT, WHERE IT MAY GO:
    --allow CIDR               Allow clients from CIDR (repeatable). Without any
                               --allow: loopback, private, link-local, CGNAT, ULA
    --deny CIDR                Refuse clients from CIDR (repeatable; wins over --allow)
    --auth-file FILE           Require Basic proxy auth; FILE has user:password lines.
                               Or set SMOLPROXY_AUTH=user:password for one user
    --connect-ports LIST       Ports CONNECT may reach: 443,8443 or any [default: 443]
    --block DOMAIN             Refuse DOMAIN and its subdomains (repeatable)
    --block-list FILE          Domains to refuse: plain, hosts-file or ||adblock^ lines;
                               ||domain/path rules refuse paths where the proxy sees
                               them (http:// requests, --inspect)
    --allow-domain DOMAIN      Permit DOMAIN even if blocked (repeatable)
    --allow-list FILE          Domains to permit even if blocked
    --default-deny             Refuse every domain not allowed by --allow-domain/-list
    --deny-private-targets     Refuse upstream connections to private addresses
                               SIGHUP reloads the auth file and every list.

HTTPS LISTENER (smolproxy-tls only; smolproxy refuses these flags):
    --tls-listen ADDR          Also listen for HTTPS proxy clients (curl --proxy https://...);
                               repeatable, beside --listen [default: none]
    --tls-cert FILE            Its PEM certificate chain, leaf first
    --tls-key FILE             Its PEM private key. SIGHUP reloads both (a bad new
                               pair keeps the old); 10s per handshake, 64 at once

SOCKS5 (same port; told apart from HTTP by its first byte):
    --socks-ports LIST         Ports SOCKS5 may reach: 80,443 or any [default: 80,443]
    --no-socks                 Do not answer SOCKS5 (only HTTP)

OWN PAGES (http://PROXY:PORT/: dashboard, /status.json, /metrics, /proxy.pac):
    --pac-direct DOMAIN        The PAC script sends DOMAIN and its subdomains
                               DIRECT, not through the proxy (repeatable)

HTTPS INSPECTION (smolproxy-tls only; off by default; see the README first):
    --inspect                  Open CONNECTs to port 443 with a leaf certificate from
                               the CA in --ca-dir: inner requests are logged, put
                               through the domain and path rules, and sent on over
                               TLS checked against the trusted roots
    --ca-dir DIR               Where ca.pem and ca.key live; made on first run
    --print-ca                 With --ca-dir: print ca.pem (to install on devices), exit
    --inspect-only DOMAIN      Inspect only DOMAIN and its subdomains (repeatable)
                               [default: every domain]
    --no-inspect DOMAIN        Never inspect DOMAIN: tunnel it untouched (banks,
                               apps that pin certificates; repeatable) [default: none]
    --ca-roots FILE            Trust only the roots in this PEM file for origins
                               (repeatable) [default: the system bundle]

UPSTREAM PROXIES:
    --upstream URL             Send everything through a parent proxy:
                               http://host:port, socks5://host:port (names
                               resolved here) or socks5h://host:port (by it).
                               Credentials: SMOLPROXY_UPSTREAM_AUTH=user:pass
    --upstream-for DOMAIN=URL  DOMAIN and its subdomains through URL, or
                               DOMAIN=direct to go directly (repeatable; the
                               most specific domain wins)
    --dns-server ADDR[:PORT]   Resolve names by asking this DNS server (repeatable;
                               /etc/hosts first, answers cached by TTL) instead
                               of the system resolver

SHARED CACHE (RFC 9111; off without --cache-dir; SIZE: 512, 64K, 16M, 1G):
    --cache-dir DIR            Keep plain-HTTP responses in DIR and answer
                               repeats from it (apt, package mirrors)
    --cache-size SIZE          Most bytes on disk in DIR [default: 1G]
    --cache-mem SIZE           Memory for the cache's index [default: 16M]

OUTPUT:
    --no-via                   Do not add `Via: 1.1 smolproxy` (1.0 for HTTP/1.0 messages)
    --access-log FILE          Append access lines to FILE instead of stderr;
                               SIGHUP reopens it (for logrotate)
    --log-format FORMAT        Access lines as text or json (one object per line)
                               [default: text]
    -v, --verbose              More logs (-vv: trace)
    -q, --quiet                Warnings and errors only on stderr (no access lines there)
    --log-level LEVEL          off, error, warn, info, debug or trace
    -h, --help                 This text
    -V, --version              Version

EXAMPLES:
    smolproxy                                   # loopback only, port 8888
    smolproxy --listen 0.0.0.0:8888             # whole LAN (private ranges only)
    smolproxy --listen [::]:8888 --block-list /etc/smolproxy/ads.txt
    SMOLPROXY_AUTH=me:secret smolproxy --listen 0.0.0.0:3128
    curl -x http://127.0.0.1:8888 http://example.com/

Exit codes: 0 after a clean shutdown, 1 on a runtime failure (cannot listen),
2 on a usage error.
";
