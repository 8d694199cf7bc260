#!/usr/bin/env bash
# Install, configure, start and stop the real servers the interop suite (tests/interop.rs) talks to.
#
#   .ci/peers.sh install   # nginx (+ brotli module if apt has it), caddy, the proxies and websocketd (apt), httpbin + websockets venv (pip); only what is missing
#   .ci/peers.sh setup     # CA + leaf, www/ (10M.bin, text.txt, data.json), conf/* (nginx, Caddy, proxies, sshd), ssh keys, the sockstest account
#   .ci/peers.sh start     # start the servers in the background, wait until they answer
#   .ci/peers.sh check     # checks with curl (ALPN h2 / http1.1, h2c, sha256s, gzip/br/zstd, HSTS, 400 on plain->TLS),
#                          # and WebSocket echoes with .ci/ws_echo.py
#   .ci/peers.sh stop      # stop what `start` started, by tracked PID
#   .ci/peers.sh status
#
# Peers (all on 127.0.0.1):
#   8081  httpbin under gunicorn, gthread worker (HTTP/1.1 keep-alive)
#   9080  nginx, plain HTTP/1.1
#   9443  nginx, TLS, ALPN h2 + http/1.1
#   9444  nginx, TLS, ALPN http/1.1 only (no h2: tests the client's HTTP/1.1 fallback)
#   9082  nginx, h2c with prior knowledge
#   7080  caddy, plain HTTP (h1, h2c), `encode zstd gzip` over the same www/
#   7443  caddy, TLS (h1, h2) and HTTP/3 on UDP 7443, the same www/ and `/hsts`
#   7444  caddy, TLS and HTTP/3 on UDP 7444, a reverse proxy to httpbin
#   8443  httpbin under hypercorn: TLS (h1, h2) and HTTP/3 on UDP 8443 (aioquic)
#   3128  squid, HTTP forward proxy + CONNECT, open;   3129 the same with Basic auth (puser:ppass)
#         or Digest auth (duser:dpass, realm squid-digest; a Digest-only user)
#   8889  tinyproxy, open;   8888 tinyproxy with Basic auth (tuser:tpass; wrong credentials get 401)
#   1080  dante, SOCKS5 + SOCKS4, open;   1081 dante, SOCKS5 with RFC 1929 auth (sockstest:sockspass,
#         a system account `setup` creates)
#   1082  microsocks, SOCKS5, open;   1083 microsocks with auth (muser:mpass)
#   1086  ssh -D (through sshd on 2222, keys in $TOWLINE_PEERS/ssh): the SOCKS4a peer
#   8765  websocketd running `cat`: a WebSocket echo, one message per line, no extensions
#   8766  .ci/ws_echo.py on the `websockets` library (in the httpbin venv): a WebSocket echo that
#         accepts permessage-deflate when offered
#
# nginx (9080/9443/9444, also 9082) compresses text/plain and application/json with gzip, and with br when
# Debian's libnginx-mod-http-brotli-filter is installed (install tries it; setup loads it if present).
# /hsts on 9080/9443/9444 sends `Strict-Transport-Security: max-age=60; includeSubDomains`. Plain HTTP to the
# TLS port (http://localhost:9443/...) gets nginx's 400, so a test can tell whether an HSTS upgrade happened.
# /auth/<file> on 9080/9443/9444 serves www/<file> behind Basic authentication (nuser:npass);
# /noranges/<file> serves it with byte ranges off (max_ranges 0: a Range header is ignored).
# www/text.txt is 800 KiB of deterministic, compressible text; text.txt.sha256, 10M.bin.sha256 and
# 1M.bin.sha256 hold the hex sha256 of the uncompressed files.
#
# Environment:
#   TOWLINE_PEERS       scratch dir for PKI, www, configs, logs, PIDs (default /tmp/towline-peers-$UID);
#                       .ci/run passes a fresh `mktemp -d`. Nothing is written outside it except the venv.
#   TOWLINE_PEERS_VENV  venv holding httpbin + gunicorn and websockets, reused across runs
#                       (default ${XDG_CACHE_HOME:-$HOME/.cache}/towline/venv-httpbin)
#
# Every failure exits non-zero with a message: the interop suite must fail, never skip.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REQUIREMENTS=$HERE/peers-requirements.txt
VENV=${TOWLINE_PEERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/towline/venv-httpbin}
P=${TOWLINE_PEERS:-/tmp/towline-peers-$(id -u)}

HTTPBIN_PORT=8081
NGINX_PORTS=(9080 9443 9444 9082)
CADDY_PORT=7080
HYPERCORN_PORT=8443
PROXY_PORTS=(3128 3129 8888 8889 1080 1081 1082 1083 2222 1086)
WEBSOCKETD_PORT=8765
WS_ECHO_PORT=8766
WEBSOCKET_PORTS=("$WEBSOCKETD_PORT" "$WS_ECHO_PORT")
WS_ECHO=$HERE/ws_echo.py
ALL_PORTS=("$HTTPBIN_PORT" "${NGINX_PORTS[@]}" "$CADDY_PORT" "$HYPERCORN_PORT" "${PROXY_PORTS[@]}" "${WEBSOCKET_PORTS[@]}")
# name:expected-command of every proxy peer, in start order (stop goes in reverse).
PROXY_PEERS=(squid:squid tinyproxy-open:tinyproxy tinyproxy-auth:tinyproxy dante-open:danted
    dante-auth:danted microsocks-open:microsocks microsocks-auth:microsocks sshd:sshd sshsocks:ssh)
NGINX_MODULES=/usr/lib/nginx/modules
BROTLI_SO=$NGINX_MODULES/ngx_http_brotli_filter_module.so
TEXT_BYTES=819200 # www/text.txt, 800 KiB
READY_TIMEOUT_S=20
STOP_TIMEOUT_S=10

log() { printf 'peers.sh: %s\n' "$*" >&2; }
die() {
    printf 'peers.sh: ERROR: %s\n' "$*" >&2
    exit 1
}

# Make $P absolute (the servers run with their own working directory).
abs_peers_dir() {
    mkdir -p "$P" || die "cannot create TOWLINE_PEERS=$P"
    P=$(cd "$P" && pwd)
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) for: $*"
    fi
}

apt_install() {
    log "apt-get install $*"
    export DEBIAN_FRONTEND=noninteractive
    if ! as_root apt-get install -y -q --no-install-recommends "$@"; then
        log "apt-get install failed; running apt-get update and retrying"
        as_root apt-get update -q || die "apt-get update failed"
        as_root apt-get install -y -q --no-install-recommends "$@" || die "apt-get install $* failed"
    fi
}

nginx_bin() {
    command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || return 1
}

caddy_bin() {
    command -v caddy 2>/dev/null || { [[ -x /usr/bin/caddy ]] && echo /usr/bin/caddy; } || return 1
}

# Caddy keeps its state under $HOME / XDG dirs: point them all into the scratch dir.
# caddy_env_vars sets CADDY_ENV (for `env`); caddy_env CMD... runs CMD with it.
caddy_env_vars() {
    CADDY_ENV=(HOME="$P/caddy-home" XDG_DATA_HOME="$P/caddy-home/data"
        XDG_CONFIG_HOME="$P/caddy-home/config" XDG_CACHE_HOME="$P/caddy-home/cache")
}
caddy_env() {
    caddy_env_vars
    env "${CADDY_ENV[@]}" "$@"
}

# ---------------------------------------------------------------------------------------------
# install

install_tools() {
    local missing=()
    command -v curl >/dev/null || missing+=(curl)
    command -v openssl >/dev/null || missing+=(openssl)
    command -v ss >/dev/null || missing+=(iproute2)
    command -v ps >/dev/null || missing+=(procps)
    command -v sha256sum >/dev/null || missing+=(coreutils)
    if ((${#missing[@]})); then apt_install ca-certificates "${missing[@]}"; fi
    curl -V | grep -q 'HTTP2' || die "curl lacks HTTP/2 support (needed by the readiness checks)"
}

install_nginx() {
    local nginx
    if ! nginx=$(nginx_bin); then
        apt_install nginx
        nginx=$(nginx_bin) || die "nginx was installed but no nginx binary was found"
    fi
    local v
    v=$("$nginx" -V 2>&1) || die "$nginx -V failed: $v"
    grep -q -- '--with-http_v2_module' <<<"$v" || die "$nginx has no HTTP/2 module"
    grep -q -- '--with-http_ssl_module' <<<"$v" || die "$nginx has no SSL module"
    log "nginx: $nginx ($(head -n1 <<<"$v"))"
    # br from nginx: the interop suite decodes it, so the module is required.
    if [[ ! -f $BROTLI_SO ]]; then
        export DEBIAN_FRONTEND=noninteractive
        log "apt-get install libnginx-mod-http-brotli-filter"
        as_root apt-get install -y -q --no-install-recommends libnginx-mod-http-brotli-filter ||
            { as_root apt-get update -q &&
                as_root apt-get install -y -q --no-install-recommends libnginx-mod-http-brotli-filter; } ||
            die "libnginx-mod-http-brotli-filter did not install: the interop suite needs br from nginx"
    fi
    if [[ -f $BROTLI_SO ]]; then log "nginx brotli filter module: $BROTLI_SO"; fi
}

install_caddy() {
    local caddy
    if ! caddy=$(caddy_bin); then
        apt_install caddy
        caddy=$(caddy_bin) || die "caddy was installed but no caddy binary was found"
    fi
    local v mods
    v=$("$caddy" version 2>&1) || die "$caddy version failed: $v"
    # Not `caddy list-modules | grep -q`: under pipefail, grep's early exit SIGPIPEs caddy.
    mods=$("$caddy" list-modules 2>&1) || die "$caddy list-modules failed: $mods"
    grep -qx 'http.encoders.zstd' <<<"$mods" || die "$caddy has no zstd encoder"
    log "caddy: $caddy ($v)"
}

venv_ok() {
    local want=$1
    [[ -x $VENV/bin/gunicorn && -f $VENV/.towline-requirements.sha256 ]] &&
        [[ $(<"$VENV/.towline-requirements.sha256") == "$want" ]] &&
        "$VENV/bin/python" -c 'import httpbin, gunicorn, gunicorn.workers.gthread, websockets, hypercorn, aioquic' 2>/dev/null
}

install_httpbin() {
    [[ -f $REQUIREMENTS ]] || die "missing $REQUIREMENTS"
    local want
    want=$(sha256sum <"$REQUIREMENTS" | cut -d' ' -f1)
    if venv_ok "$want"; then
        log "httpbin venv up to date: $VENV"
        return
    fi
    log "creating httpbin venv: $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! { command -v python3 >/dev/null && python3 -m venv "$VENV"; }; then
        log "python3 -m venv failed; installing Debian's python3-venv"
        rm -rf "$VENV"
        apt_install python3 python3-venv
        /usr/bin/python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    fi
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS" ||
        die "pip install -r $REQUIREMENTS into $VENV failed"
    local out
    out=$("$VENV/bin/python" -c 'import httpbin, gunicorn, gunicorn.workers.gthread, websockets, hypercorn, aioquic' 2>&1) ||
        die "httpbin/gunicorn/websockets/hypercorn/aioquic not importable after pip install: $out"
    echo "$want" >"$VENV/.towline-requirements.sha256"
    log "httpbin venv ready: $("$VENV/bin/pip" list --disable-pip-version-check 2>/dev/null |
        grep -i -E '^(httpbin|gunicorn|flask|werkzeug|websockets|hypercorn|aioquic) ' | tr -s ' ' | paste -sd, -)"
}

install_proxies() {
    local missing=()
    [[ -x /usr/sbin/squid ]] || missing+=(squid)
    command -v htpasswd >/dev/null || missing+=(apache2-utils)
    [[ -x /usr/bin/tinyproxy ]] || missing+=(tinyproxy)
    [[ -x /usr/sbin/danted ]] || missing+=(dante-server)
    command -v microsocks >/dev/null || missing+=(microsocks)
    [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
    command -v ssh >/dev/null || missing+=(openssh-client)
    if ((${#missing[@]})); then apt_install "${missing[@]}"; fi
    [[ -x /usr/sbin/squid && -x /usr/bin/tinyproxy && -x /usr/sbin/danted && -x /usr/sbin/sshd ]] ||
        die "a proxy peer did not install (squid, tinyproxy, danted, sshd)"
    command -v microsocks >/dev/null || die "microsocks did not install"
}

# ---------------------------------------------------------------------------------------------
# WebSocket peers: websocketd (apt) and .ci/ws_echo.py on the `websockets` library (pinned in
# peers-requirements.txt, so it lives in the httpbin venv). No configuration: `setup` has nothing
# to do for them.

install_websocket_peers() {
    command -v websocketd >/dev/null || apt_install websocketd
    command -v websocketd >/dev/null || die "websocketd did not install"
}

start_websocket_peers() {
    local deadline=$((SECONDS + READY_TIMEOUT_S)) name port
    start_bg websocketd websocketd --address=127.0.0.1 --port="$WEBSOCKETD_PORT" cat
    start_bg ws-echo "$VENV/bin/python" "$WS_ECHO" serve 127.0.0.1 "$WS_ECHO_PORT"
    for name in websocketd:"$WEBSOCKETD_PORT" ws-echo:"$WS_ECHO_PORT"; do
        port=${name#*:}
        name=${name%%:*}
        while ! "$VENV/bin/python" "$WS_ECHO" check "ws://127.0.0.1:$port/" >/dev/null 2>&1; do
            alive "$(tracked_pid "$name")" || { show_log "$name"; die "$name exited during startup"; }
            ((SECONDS < deadline)) || { show_log "$name"; die "$name did not echo within ${READY_TIMEOUT_S}s"; }
            sleep 0.1
        done
    done
}

check_websocket_peers() {
    local out
    out=$("$VENV/bin/python" "$WS_ECHO" check "ws://127.0.0.1:$WEBSOCKETD_PORT/" 2>&1) ||
        die "check 'websocketd echo' failed: $out"
    log "$out"
    out=$("$VENV/bin/python" "$WS_ECHO" check "ws://127.0.0.1:$WS_ECHO_PORT/" --deflate 2>&1) ||
        die "check 'websockets echo with permessage-deflate' failed: $out"
    log "$out"
}

cmd_install() {
    install_tools
    install_nginx
    install_caddy
    install_httpbin
    install_proxies
    install_websocket_peers
}

# ---------------------------------------------------------------------------------------------
# setup

setup_pki() {
    local d=$P/pki
    rm -rf "$d"
    mkdir -p "$d"
    (
        cd "$d"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout ca.key -out ca.pem -days 3650 -subj '/CN=towline interop test CA' \
            -addext 'basicConstraints=critical,CA:TRUE' \
            -addext 'keyUsage=critical,keyCertSign,cRLSign' 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null
        cat >leaf.ext <<'EOF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOF
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -out server.pem -days 825 -extfile leaf.ext 2>/dev/null
        cat server.pem ca.pem >fullchain.pem
        chmod 644 server.key
        openssl verify -CAfile ca.pem server.pem >/dev/null
    ) || die "generating the CA and leaf certificate in $d failed"
}

setup_www() {
    local d=$P/www
    rm -rf "$d"
    mkdir -p "$d"
    head -c 10485760 /dev/urandom >"$d/10M.bin" || die "writing $d/10M.bin failed"
    sha256sum "$d/10M.bin" | cut -d' ' -f1 >"$d/10M.bin.sha256"
    head -c 1048576 /dev/urandom >"$d/1M.bin" || die "writing $d/1M.bin failed"
    sha256sum "$d/1M.bin" | cut -d' ' -f1 >"$d/1M.bin.sha256"
    # Deterministic, compressible text (the same bytes every run): numbered lines, exactly TEXT_BYTES.
    # awk stops by itself (no `| head -c`: under pipefail the SIGPIPE would fail the pipeline).
    LC_ALL=C awk -v n="$TEXT_BYTES" 'BEGIN {
        for (i = 0; t < n; i++) {
            s = sprintf("%06d towline interop text: the quick brown fox jumps over the lazy dog.\n", i)
            if (t + length(s) > n) s = substr(s, 1, n - t)
            printf "%s", s
            t += length(s)
        } }' >"$d/text.txt" || die "writing $d/text.txt failed"
    [[ $(stat -c %s "$d/text.txt") -eq $TEXT_BYTES ]] || die "$d/text.txt is not $TEXT_BYTES bytes"
    sha256sum "$d/text.txt" | cut -d' ' -f1 >"$d/text.txt.sha256"
    cat >"$d/data.json" <<'EOF'
{"name":"towline","kind":"interop","numbers":[1,2,3],"nested":{"ok":true,"text":"caf\u00e9"}}
EOF
    printf '<!doctype html><title>towline interop</title><p>ok</p>\n' >"$d/index.html"
}

# True if nginx accepts `load_module $1` (a module built for another nginx version is refused).
nginx_module_loads() {
    local nginx=$1 so=$2 d=$P/tmp/modprobe out
    mkdir -p "$d"
    printf 'load_module %s;\npid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\n' "$so" "$d" "$d" \
        >"$d/nginx.conf"
    out=$("$nginx" -t -p "$d" -c "$d/nginx.conf" -e "$d/error.log" 2>&1) || {
        log "WARNING: nginx refuses $so: $out"
        return 1
    }
}

setup_nginx_conf() {
    local nginx=$1 user_line="" brotli_load="" brotli_conf=""
    # As root, nginx's workers would drop to `nobody`, which cannot read a mktemp -d (mode 700).
    if [[ $(id -u) -eq 0 ]]; then user_line="user root root;"; fi
    if [[ -f $BROTLI_SO ]] && nginx_module_loads "$nginx" "$BROTLI_SO"; then
        brotli_load="load_module $BROTLI_SO;"
        brotli_conf="brotli on; brotli_types text/plain application/json; brotli_min_length 20;"
        log "nginx: brotli enabled"
    else
        log "nginx: brotli module not available; gzip only"
    fi
    # Basic authentication for /auth/ (nuser:npass), the netrc interop tests' origin.
    htpasswd -bc "$P/conf/nginx.htpasswd" nuser npass 2>/dev/null || die "htpasswd failed"
    cat >"$P/conf/nginx.conf" <<EOF
# Generated by .ci/peers.sh setup. Everything lives under $P; nothing under /var.
$brotli_load
$user_line
worker_processes 1;
daemon off;
pid $P/run/nginx.master.pid;
error_log $P/log/nginx.error.log info;
events { worker_connections 512; }
http {
    types { text/html html; text/plain txt sha256; application/json json; application/octet-stream bin; }
    default_type application/octet-stream;
    access_log $P/log/nginx.access.log;
    client_body_temp_path $P/tmp/body;
    proxy_temp_path $P/tmp/proxy;
    fastcgi_temp_path $P/tmp/fastcgi;
    uwsgi_temp_path $P/tmp/uwsgi;
    scgi_temp_path $P/tmp/scgi;
    sendfile on;
    keepalive_timeout 30;
    ssl_certificate $P/pki/fullchain.pem;
    ssl_certificate_key $P/pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    gzip on; gzip_types text/plain application/json; gzip_min_length 20; gzip_vary on;
    $brotli_conf

    server {
        listen 127.0.0.1:9080;              # plain HTTP/1.1
        listen 127.0.0.1:9443 ssl http2;    # TLS, ALPN h2 + http/1.1
        listen 127.0.0.1:9444 ssl;          # TLS, ALPN http/1.1 only
        server_name localhost;
        root $P/www;
        # HSTS: learn it over https://localhost:9443/hsts; plain http://localhost:9443/... then gets a 400.
        location = /hsts { add_header Strict-Transport-Security "max-age=60; includeSubDomains" always; return 200 "hsts\n"; }
        # Retry: always 503 with Retry-After: 1.
        location = /retry { add_header Retry-After 1 always; return 503 "busy\n"; }
        # Retry then success: 503 + Retry-After: 1 and a cookie; 200 once the cookie comes back.
        location = /retry-once {
            if (\$cookie_retried) { return 200 "ok\n"; }
            add_header Set-Cookie "retried=1; Path=/retry-once" always;
            add_header Retry-After 1 always;
            return 503 "busy\n";
        }
        # The same files with byte ranges turned off: Range is ignored, answers are 200s.
        location /noranges/ {
            max_ranges 0;
            alias $P/www/;
        }
        # Basic authentication (nuser:npass) in front of www/ (a 401 with a Basic challenge
        # without it). Static files, not `return`: a rewrite-phase answer skips the access check.
        location /auth/ {
            auth_basic "towline-interop";
            auth_basic_user_file $P/conf/nginx.htpasswd;
            alias $P/www/;
        }
    }
    server {
        listen 127.0.0.1:9082 http2;        # h2c, prior knowledge only
        server_name localhost;
        root $P/www;
    }
}
EOF
}

setup_caddy_conf() {
    mkdir -p "$P/caddy-home" "$P/caddy-data"
    # Tabs: Caddy warns about an unformatted Caddyfile otherwise.
    cat >"$P/conf/Caddyfile" <<EOF
# Generated by .ci/peers.sh setup. State lives under $P (storage, HOME, XDG dirs).
{
	admin off
	auto_https disable_redirects
	skip_install_trust
	storage file_system $P/caddy-data
	servers {
		protocols h1 h2 h2c h3
	}
}

http://127.0.0.1:$CADDY_PORT {
	bind 127.0.0.1
	encode zstd gzip
	root * $P/www
	file_server
}

https://localhost:7443, https://127.0.0.1:7443 {
	bind 127.0.0.1
	tls $P/pki/fullchain.pem $P/pki/server.key
	encode zstd gzip
	header /hsts Strict-Transport-Security "max-age=60"
	respond /hsts "hsts" 200
	root * $P/www
	file_server
}

https://localhost:7444, https://127.0.0.1:7444 {
	bind 127.0.0.1
	tls $P/pki/fullchain.pem $P/pki/server.key
	encode zstd gzip
	reverse_proxy 127.0.0.1:$HTTPBIN_PORT
}
EOF
}

setup_proxy_confs() {
    # squid drops its privileges to `proxy`: it must be able to reach its files.
    chmod 755 "$P"
    mkdir -p "$P/squid/logs" "$P/squid/run" "$P/ssh" /run/sshd
    htpasswd -bc "$P/squid/passwd" puser ppass 2>/dev/null || die "htpasswd failed"
    # digest_file_auth reads `user:password` lines; duser is not in the Basic file, so only a
    # Digest answer gets it through.
    printf 'duser:dpass\n' >"$P/squid/digest-passwd"
    chown -R proxy:proxy "$P/squid"
    cat >"$P/conf/squid.conf" <<CONF
http_port 127.0.0.1:3128 name=open
http_port 127.0.0.1:3129 name=authed
pid_filename $P/squid/run/squid.pid
cache_log $P/squid/logs/cache.log
access_log stdio:$P/squid/logs/access.log
cache_store_log none
coredump_dir $P/squid/run
cache deny all
cache_mem 8 MB
shutdown_lifetime 1 seconds
visible_hostname squid-test
dns_nameservers 127.0.0.1
auth_param basic program /usr/lib/squid/basic_ncsa_auth $P/squid/passwd
auth_param basic realm squid-test
auth_param basic children 2
auth_param digest program /usr/lib/squid/digest_file_auth $P/squid/digest-passwd
auth_param digest realm squid-digest
auth_param digest children 2
acl openport myportname open
acl authport myportname authed
acl loopback src 127.0.0.0/8
acl to_loopback dst 127.0.0.0/8
acl SSL_ports port 443 9443 7443 7444 8443 5443
acl CONNECT method CONNECT
acl authok proxy_auth REQUIRED
http_access deny CONNECT !SSL_ports
http_access allow openport loopback to_loopback
http_access allow authport loopback to_loopback authok
http_access deny all
CONF
    local variant port auth
    for variant in open auth; do
        if [[ $variant == open ]]; then port=8889 auth=""; else port=8888 auth="BasicAuth tuser tpass"; fi
        cat >"$P/conf/tinyproxy-$variant.conf" <<CONF
User nobody
Group nogroup
Port $port
Listen 127.0.0.1
Timeout 30
LogLevel Info
MaxClients 20
Allow 127.0.0.1
$auth
ConnectPort 9443
ConnectPort 443
CONF
    done
    for variant in open auth; do
        if [[ $variant == open ]]; then port=1080 auth=none; else port=1081 auth=username; fi
        cat >"$P/conf/dante-$variant.conf" <<CONF
logoutput: $P/log/dante-$variant.dantelog
internal: 127.0.0.1 port = $port
external: 127.0.0.1
clientmethod: none
socksmethod: $auth
user.privileged: root
user.unprivileged: nobody
client pass {
    from: 127.0.0.0/8 to: 0.0.0.0/0
    log: error connect
}
socks pass {
    from: 127.0.0.0/8 to: 127.0.0.0/8
    command: connect
    protocol: tcp
    log: error connect
}
socks block {
    from: 0.0.0.0/0 to: 0.0.0.0/0
    log: error
}
CONF
    done
    # dante's username method checks system accounts.
    if ! id sockstest >/dev/null 2>&1; then
        as_root useradd -M -s /usr/sbin/nologin sockstest || die "useradd sockstest failed"
    fi
    echo 'sockstest:sockspass' | as_root chpasswd || die "chpasswd sockstest failed"
    chmod 700 "$P/ssh"
    rm -f "$P/ssh/hostkey" "$P/ssh/hostkey.pub" "$P/ssh/clientkey" "$P/ssh/clientkey.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$P/ssh/hostkey" || die "ssh-keygen failed"
    ssh-keygen -q -t ed25519 -N '' -f "$P/ssh/clientkey" || die "ssh-keygen failed"
    cp "$P/ssh/clientkey.pub" "$P/ssh/authorized_keys"
    chmod 600 "$P/ssh/authorized_keys"
    cat >"$P/conf/sshd_config" <<CONF
ListenAddress 127.0.0.1:2222
HostKey $P/ssh/hostkey
PidFile $P/run/sshd.daemon.pid
AuthorizedKeysFile $P/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AllowTcpForwarding yes
StrictModes no
PermitOpen 127.0.0.1:* localhost:*
CONF
    local out
    out=$(/usr/sbin/squid -k parse -f "$P/conf/squid.conf" 2>&1) || die "squid rejected its config: $out"
    out=$(/usr/sbin/sshd -t -f "$P/conf/sshd_config" 2>&1) || die "sshd rejected its config: $out"
}

cmd_setup() {
    local nginx
    nginx=$(nginx_bin) || die "nginx is not installed (run: $0 install)"
    local caddy
    caddy=$(caddy_bin) || die "caddy is not installed (run: $0 install)"
    command -v openssl >/dev/null || die "openssl is not installed (run: $0 install)"
    mkdir -p "$P"/{pki,www,conf,log,run,tmp}
    setup_pki
    setup_www
    setup_nginx_conf "$nginx"
    setup_caddy_conf
    setup_proxy_confs
    local out
    out=$("$nginx" -t -p "$P" -c "$P/conf/nginx.conf" -e "$P/log/nginx.startup.log" 2>&1) ||
        die "nginx -t rejected $P/conf/nginx.conf: $out"
    out=$(cd "$P" && caddy_env "$caddy" validate --config "$P/conf/Caddyfile" --adapter caddyfile 2>&1) ||
        die "caddy validate rejected $P/conf/Caddyfile: $out"
    log "setup done in $P"
}

# ---------------------------------------------------------------------------------------------
# process helpers

# Alive = exists and is not a zombie (PID 1 here reaps orphans late, so kill -0 is not enough).
alive() {
    local stat
    stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ -n $stat && $stat != Z* ]]
}

descendants() {
    local kid
    for kid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        echo "$kid"
        descendants "$kid"
    done
}

port_open() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# True if $2 (a PID) is among the processes holding the listening socket on 127.0.0.1:$1.
owns_port() {
    ss -ltnpH "sport = :$1" 2>/dev/null | grep -q "pid=$2,"
}

# start_bg NAME CMD... : start in the background, in $P, logs to $P/log/NAME.log, PID to $P/run/NAME.pid.
# `( cd && exec cmd ) &` so that $! is the server itself, not a subshell that would survive a kill.
start_bg() {
    local name=$1
    shift
    (cd "$P" && exec "$@") </dev/null >"$P/log/$name.log" 2>&1 &
    echo $! >"$P/run/$name.pid"
}

show_log() {
    local f=$P/log/$1.log
    if [[ -s $f ]]; then
        printf -- '---- last lines of %s ----\n' "$f" >&2
        tail -n 20 "$f" >&2
    fi
}

# wait_ready NAME PID DEADLINE_EPOCH CURL_ARGS... : poll with curl until it succeeds.
wait_ready() {
    local name=$1 pid=$2 deadline=$3
    shift 3
    while ! curl -sf -o /dev/null --max-time 2 "$@"; do
        if ! alive "$pid"; then
            show_log "$name"
            [[ $name == nginx ]] && show_log nginx.startup
            die "$name (pid $pid) exited during startup"
        fi
        if ((SECONDS >= deadline)); then
            show_log "$name"
            [[ $name == nginx ]] && show_log nginx.error
            die "$name did not answer within ${READY_TIMEOUT_S}s: curl $*"
        fi
        sleep 0.1
    done
}

tracked_pid() {
    local f=$P/run/$1.pid
    [[ -f $f ]] && cat "$f"
}

# ---------------------------------------------------------------------------------------------
# start / stop / status / check

cmd_start() {
    local nginx
    nginx=$(nginx_bin) || die "nginx is not installed (run: $0 install)"
    local caddy
    caddy=$(caddy_bin) || die "caddy is not installed (run: $0 install)"
    [[ -x $VENV/bin/gunicorn ]] || die "no gunicorn in $VENV (run: $0 install)"
    [[ -x $VENV/bin/hypercorn ]] || die "no hypercorn in $VENV (run: $0 install)"
    command -v websocketd >/dev/null || die "websocketd is not installed (run: $0 install)"
    "$VENV/bin/python" -c 'import websockets' 2>/dev/null || die "no websockets in $VENV (run: $0 install)"
    [[ -f $P/conf/nginx.conf && -f $P/conf/Caddyfile && -f $P/pki/ca.pem && -f $P/www/10M.bin &&
        -f $P/www/1M.bin && -f $P/www/text.txt ]] || die "$P is not set up (run: $0 setup)"

    local name pid port
    for name in httpbin nginx caddy hypercorn; do
        if pid=$(tracked_pid "$name") && alive "$pid"; then
            die "$name is already running (pid $pid); run: $0 stop"
        fi
    done
    # A stale server on one of our ports would answer the readiness probes in our place.
    for port in "${ALL_PORTS[@]}"; do
        if port_open "$port"; then
            die "127.0.0.1:$port is already in use: $(ss -ltnpH "sport = :$port" 2>/dev/null)"
        fi
    done

    mkdir -p "$P/log" "$P/run" "$P/tmp"
    # If anything below fails, do not leave half of the peers running.
    trap 'log "start failed; stopping what was started"; cmd_stop' EXIT
    start_bg httpbin "$VENV/bin/gunicorn" -k gthread --threads 8 --keep-alive 30 -w 1 \
        --graceful-timeout 2 -b "127.0.0.1:$HTTPBIN_PORT" httpbin:app
    start_bg nginx "$nginx" -p "$P" -c "$P/conf/nginx.conf" -e "$P/log/nginx.startup.log"
    # `caddy run` stays in the foreground; no admin endpoint (admin off), state under $P.
    # `env` execs caddy, so the tracked PID is caddy's own.
    caddy_env_vars
    start_bg caddy env "${CADDY_ENV[@]}" "$caddy" run --config "$P/conf/Caddyfile" --adapter caddyfile
    # The same httpbin under hypercorn, whose HTTP/3 (aioquic) is a second QUIC stack beside
    # Caddy's.
    start_bg hypercorn "$VENV/bin/hypercorn" --graceful-timeout 1 \
        --certfile "$P/pki/fullchain.pem" --keyfile "$P/pki/server.key" \
        -b "127.0.0.1:$HYPERCORN_PORT" --quic-bind "127.0.0.1:$HYPERCORN_PORT" httpbin:app

    local deadline=$((SECONDS + READY_TIMEOUT_S))
    local hpid npid cpid hcpid
    hpid=$(tracked_pid httpbin)
    npid=$(tracked_pid nginx)
    cpid=$(tracked_pid caddy)
    hcpid=$(tracked_pid hypercorn)
    wait_ready httpbin "$hpid" "$deadline" "http://127.0.0.1:$HTTPBIN_PORT/get"
    wait_ready nginx "$npid" "$deadline" "http://127.0.0.1:9080/data.json"
    wait_ready nginx "$npid" "$deadline" --cacert "$P/pki/ca.pem" "https://localhost:9443/data.json"
    wait_ready nginx "$npid" "$deadline" --cacert "$P/pki/ca.pem" "https://localhost:9444/data.json"
    wait_ready nginx "$npid" "$deadline" --http2-prior-knowledge "http://127.0.0.1:9082/data.json"
    wait_ready caddy "$cpid" "$deadline" "http://127.0.0.1:$CADDY_PORT/data.json"
    wait_ready hypercorn "$hcpid" "$deadline" --cacert "$P/pki/ca.pem" "https://localhost:$HYPERCORN_PORT/get"
    start_proxies
    start_websocket_peers

    # The processes we started must still be alive and be the ones listening.
    sleep 0.2
    alive "$hpid" || die "httpbin (pid $hpid) died after answering; log: $P/log/httpbin.log"
    alive "$npid" || die "nginx (pid $npid) died after answering; log: $P/log/nginx.error.log"
    alive "$cpid" || die "caddy (pid $cpid) died after answering; log: $P/log/caddy.log"
    alive "$hcpid" || die "hypercorn (pid $hcpid) died after answering; log: $P/log/hypercorn.log"
    owns_port "$HYPERCORN_PORT" "$hcpid" || die "127.0.0.1:$HYPERCORN_PORT is not held by hypercorn (pid $hcpid)"
    owns_port "$HTTPBIN_PORT" "$hpid" || die "127.0.0.1:$HTTPBIN_PORT is not held by httpbin (pid $hpid)"
    for port in "${NGINX_PORTS[@]}"; do
        owns_port "$port" "$npid" || die "127.0.0.1:$port is not held by nginx (pid $npid)"
    done
    owns_port "$CADDY_PORT" "$cpid" || die "127.0.0.1:$CADDY_PORT is not held by caddy (pid $cpid)"
    for name in websocketd:"$WEBSOCKETD_PORT" ws-echo:"$WS_ECHO_PORT"; do
        pid=$(tracked_pid "${name%%:*}")
        alive "$pid" || die "${name%%:*} (pid $pid) died after answering; log: $P/log/${name%%:*}.log"
        owns_port "${name#*:}" "$pid" || die "127.0.0.1:${name#*:} is not held by ${name%%:*} (pid $pid)"
    done
    # Remember the workers too: if a master dies first (Ctrl-C reaches the whole process group),
    # its workers are re-parented and `stop` could no longer find them through the master.
    descendants "$hpid" >"$P/run/httpbin.kids"
    descendants "$npid" >"$P/run/nginx.kids"
    descendants "$cpid" >"$P/run/caddy.kids"
    descendants "$hcpid" >"$P/run/hypercorn.kids"
    local peer
    for peer in "${PROXY_PEERS[@]}"; do
        alive "$(tracked_pid "${peer%%:*}")" || die "${peer%%:*} died after answering; log: $P/log/${peer%%:*}.log"
        descendants "$(tracked_pid "${peer%%:*}")" >"$P/run/${peer%%:*}.kids"
    done
    trap - EXIT
    log "started squid, tinyproxy, dante, microsocks and ssh -D on :${PROXY_PORTS[*]}"
    log "started websocketd (:$WEBSOCKETD_PORT) and ws_echo.py (:$WS_ECHO_PORT)"
    log "started httpbin (pid $hpid, :$HTTPBIN_PORT), nginx (pid $npid, :${NGINX_PORTS[*]})," \
        "caddy (pid $cpid, :$CADDY_PORT 7443 7444) and hypercorn (pid $hcpid, :$HYPERCORN_PORT) in $P"
}

# Starts the proxy peers (after nginx, their origin, answers) and waits until each one carries
# a request to nginx.
start_proxies() {
    local deadline=$((SECONDS + READY_TIMEOUT_S)) origin=http://127.0.0.1:9080/data.json
    start_bg squid /usr/sbin/squid -N -f "$P/conf/squid.conf"
    start_bg tinyproxy-open /usr/bin/tinyproxy -d -c "$P/conf/tinyproxy-open.conf"
    start_bg tinyproxy-auth /usr/bin/tinyproxy -d -c "$P/conf/tinyproxy-auth.conf"
    start_bg dante-open /usr/sbin/danted -f "$P/conf/dante-open.conf" -p "$P/run/dante-open.daemon.pid" -N 1
    start_bg dante-auth /usr/sbin/danted -f "$P/conf/dante-auth.conf" -p "$P/run/dante-auth.daemon.pid" -N 1
    start_bg microsocks-open microsocks -i 127.0.0.1 -p 1082
    start_bg microsocks-auth microsocks -i 127.0.0.1 -p 1083 -u muser -P mpass
    start_bg sshd /usr/sbin/sshd -D -e -f "$P/conf/sshd_config"
    while ! port_open 2222; do
        alive "$(tracked_pid sshd)" || { show_log sshd; die "sshd exited during startup"; }
        ((SECONDS < deadline)) || die "sshd did not listen on 2222 within ${READY_TIMEOUT_S}s"
        sleep 0.1
    done
    start_bg sshsocks ssh -F /dev/null -i "$P/ssh/clientkey" -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile="$P/ssh/known_hosts" -o BatchMode=yes -o ExitOnForwardFailure=yes \
        -p 2222 -N -D 127.0.0.1:1086 root@127.0.0.1
    wait_ready squid "$(tracked_pid squid)" "$deadline" -x http://127.0.0.1:3128 "$origin"
    wait_ready squid "$(tracked_pid squid)" "$deadline" -x http://puser:ppass@127.0.0.1:3129 "$origin"
    wait_ready tinyproxy-open "$(tracked_pid tinyproxy-open)" "$deadline" -x http://127.0.0.1:8889 "$origin"
    wait_ready tinyproxy-auth "$(tracked_pid tinyproxy-auth)" "$deadline" -x http://tuser:tpass@127.0.0.1:8888 "$origin"
    wait_ready dante-open "$(tracked_pid dante-open)" "$deadline" --socks5 127.0.0.1:1080 "$origin"
    wait_ready dante-auth "$(tracked_pid dante-auth)" "$deadline" --socks5 127.0.0.1:1081 \
        --proxy-user sockstest:sockspass "$origin"
    wait_ready microsocks-open "$(tracked_pid microsocks-open)" "$deadline" --socks5-hostname 127.0.0.1:1082 "$origin"
    wait_ready microsocks-auth "$(tracked_pid microsocks-auth)" "$deadline" --socks5-hostname 127.0.0.1:1083 \
        --proxy-user muser:mpass "$origin"
    wait_ready sshsocks "$(tracked_pid sshsocks)" "$deadline" --socks4a 127.0.0.1:1086 "$origin"
}

is_cmd() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q "$2"
}

# stop_one NAME EXPECTED_CMDLINE_WORD SIGNAL
stop_one() {
    local name=$1 expect=$2 sig=$3 pid kids="" kid
    pid=$(tracked_pid "$name") || return 0
    [[ -f $P/run/$name.kids ]] && kids=$(<"$P/run/$name.kids")
    if alive "$pid"; then
        # Guard against a recycled PID from an old pid file.
        if is_cmd "$pid" "$expect"; then
            kids="$kids $(descendants "$pid")"
            kill "-$sig" "$pid" 2>/dev/null || true
            local deadline=$((SECONDS + STOP_TIMEOUT_S))
            while alive "$pid" && ((SECONDS < deadline)); do sleep 0.05; done
            if alive "$pid"; then
                log "$name (pid $pid) ignored SIG$sig for ${STOP_TIMEOUT_S}s; sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            log "stopped $name (pid $pid)"
        else
            log "pid $pid in $P/run/$name.pid is not $expect; not killing it"
        fi
    fi
    for kid in $kids; do
        if alive "$kid" && is_cmd "$kid" "$expect"; then
            log "killing leftover $name worker (pid $kid)"
            kill -KILL "$kid" 2>/dev/null || true
        fi
    done
    rm -f "$P/run/$name.pid" "$P/run/$name.kids"
    STOPPED_ANY=1
}

cmd_stop() {
    [[ -d $P ]] || return 0
    STOPPED_ANY=0
    # gunicorn: SIGINT is its quick shutdown (SIGTERM waits for the graceful timeout).
    stop_one httpbin gunicorn INT
    stop_one nginx nginx TERM
    stop_one caddy caddy TERM
    stop_one hypercorn hypercorn TERM
    stop_one ws-echo ws_echo.py TERM
    stop_one websocketd websocketd TERM
    local i peer
    for ((i = ${#PROXY_PEERS[@]} - 1; i >= 0; i--)); do
        peer=${PROXY_PEERS[i]}
        stop_one "${peer%%:*}" "${peer#*:}" TERM
    done
    ((STOPPED_ANY)) || return 0
    # Postcondition: our ports are free again (the next start checks this too).
    local port deadline=$((SECONDS + STOP_TIMEOUT_S)) busy
    while :; do
        busy=()
        for port in "${ALL_PORTS[@]}"; do
            if port_open "$port"; then busy+=("$port"); fi
        done
        ((${#busy[@]})) || return 0
        ((SECONDS < deadline)) || break
        sleep 0.1
    done
    for port in "${busy[@]}"; do ss -ltnpH "sport = :$port" >&2 || true; done
    die "ports still listening after stop: ${busy[*]}"
}

cmd_status() {
    local name pid
    for name in httpbin nginx caddy hypercorn websocketd ws-echo; do
        if pid=$(tracked_pid "$name") && alive "$pid"; then
            echo "$name: running (pid $pid)"
        else
            echo "$name: stopped"
        fi
    done
}

# curl_expect WHAT EXPECTED CURL_ARGS... : curl -w output must equal EXPECTED.
curl_expect() {
    local what=$1 want=$2 got
    shift 2
    got=$(curl -s -o /dev/null --max-time 10 "$@") || die "check '$what' failed: curl $* (exit $?)"
    [[ $got == "$want" ]] || die "check '$what': expected '$want', got '$got' (curl $*)"
    log "ok: $what ($got)"
}

# check_encoding WHAT ENCODING URL CURL_ARGS... : asking for ENCODING gets `Content-Encoding: ENCODING`
# (and `Vary: Accept-Encoding`), and the body curl decodes has text.txt's sha256.
check_encoding() {
    local what=$1 enc=$2 url=$3 got sum body=$P/tmp/check-body
    shift 3
    got=$(curl -s --compressed -H "Accept-Encoding: $enc" -o "$body" --max-time 30 \
        -w '%{http_code} %header{content-encoding} vary=%header{vary} wire=%{size_download}' "$@" "$url") ||
        die "check '$what' failed: curl $url (exit $?)"
    [[ $got == "200 $enc vary=Accept-Encoding wire="* ]] ||
        die "check '$what': expected '200 $enc vary=Accept-Encoding wire=...', got '$got' ($url)"
    sum=$(sha256sum <"$body" | cut -d' ' -f1)
    rm -f "$body"
    [[ $sum == "$(<"$P/www/text.txt.sha256")" ]] || die "check '$what': decoded sha256 mismatch"
    log "ok: $what ($got of $TEXT_BYTES bytes, decoded sha256 ok)"
}

cmd_check() {
    local ca=$P/pki/ca.pem sum
    curl_expect "httpbin /get" "200 1.1" -w '%{http_code} %{http_version}' \
        "http://127.0.0.1:$HTTPBIN_PORT/get"
    curl_expect "nginx :9080 h1" "200 1.1" -w '%{http_code} %{http_version}' \
        "http://127.0.0.1:9080/data.json"
    curl_expect "nginx :9443 ALPN h2" "200 2" -w '%{http_code} %{http_version}' \
        --cacert "$ca" --http2 "https://localhost:9443/data.json"
    curl_expect "nginx :9443 http/1.1" "200 1.1" -w '%{http_code} %{http_version}' \
        --cacert "$ca" --http1.1 "https://localhost:9443/data.json"
    curl_expect "nginx :9444 no h2" "200 1.1" -w '%{http_code} %{http_version}' \
        --cacert "$ca" --http2 "https://localhost:9444/data.json"
    curl_expect "nginx :9082 h2c" "200 2" -w '%{http_code} %{http_version}' \
        --http2-prior-knowledge "http://127.0.0.1:9082/data.json"
    curl_expect "nginx 127.0.0.1 SAN" "200" -w '%{http_code}' \
        --cacert "$ca" "https://127.0.0.1:9443/data.json"
    sum=$(curl -sf --max-time 30 --cacert "$ca" "https://localhost:9443/10M.bin" | sha256sum | cut -d' ' -f1) ||
        die "check '10M.bin' failed"
    [[ $sum == "$(<"$P/www/10M.bin.sha256")" ]] || die "check '10M.bin': sha256 mismatch"
    log "ok: 10M.bin sha256 over h2"

    # Caddy over TLS (its HTTP/3 listener is exercised by the interop suite: curl here has none).
    curl_expect "caddy :7443 TLS h2" "200 2" -w '%{http_code} %{http_version}' \
        --cacert "$ca" "https://localhost:7443/data.json"
    curl_expect "hypercorn :$HYPERCORN_PORT httpbin" "200 2" -w '%{http_code} %{http_version}' \
        --cacert "$ca" "https://localhost:$HYPERCORN_PORT/get"
    curl_expect "caddy :7444 httpbin" "200 2" -w '%{http_code} %{http_version}' \
        --cacert "$ca" "https://localhost:7444/get"

    # Content codings: zstd from caddy, gzip and br from nginx.
    check_encoding "caddy :$CADDY_PORT zstd" zstd "http://127.0.0.1:$CADDY_PORT/text.txt"
    check_encoding "caddy :$CADDY_PORT gzip" gzip "http://127.0.0.1:$CADDY_PORT/text.txt"
    check_encoding "nginx :9080 gzip" gzip "http://127.0.0.1:9080/text.txt"
    check_encoding "nginx :9443 gzip over h2" gzip "https://localhost:9443/text.txt" --cacert "$ca"
    grep -q '^load_module .*brotli' "$P/conf/nginx.conf" || die "nginx.conf does not load the brotli module"
    check_encoding "nginx :9080 br" br "http://127.0.0.1:9080/text.txt"
    curl_expect "nginx :9080 identity without Accept-Encoding" "200 " \
        -w '%{http_code} %header{content-encoding}' "http://127.0.0.1:9080/text.txt"

    # HSTS: the header over TLS, and nginx's 400 for plain HTTP sent to the TLS port.
    curl_expect "nginx :9443 /hsts header" "200 max-age=60; includeSubDomains" \
        -w '%{http_code} %header{strict-transport-security}' --cacert "$ca" "https://localhost:9443/hsts"
    local body
    body=$(curl -s --max-time 10 -w '\n%{http_code}' "http://localhost:9443/hsts") ||
        die "check 'plain http to :9443' failed: curl exit $?"
    [[ ${body##*$'\n'} == 400 && $body == *"The plain HTTP request was sent to HTTPS port"* ]] ||
        die "check 'plain http to :9443': expected nginx's 400, got: $body"
    log "ok: plain http to :9443 (400, plain HTTP request was sent to HTTPS port)"

    check_websocket_peers
}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

main() {
    (($# == 1)) || usage
    case $1 in
    install) cmd_install ;;
    setup) abs_peers_dir && cmd_setup ;;
    start) abs_peers_dir && cmd_start ;;
    check) abs_peers_dir && cmd_check ;;
    stop)
        if [[ -d $P ]]; then
            P=$(cd "$P" && pwd)
            cmd_stop
        fi
        ;;
    status) abs_peers_dir && cmd_status ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
    esac
}

main "$@"
