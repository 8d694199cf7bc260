#!/usr/bin/env python3
"""Writes the seed inputs under fuzz/seeds/<target>/ (small, valid examples of each input
format, so a short run starts from real gzip/zlib/brotli/zstd streams and real headers).

Needs python3; `brotli` (pip) for the br seeds and the `zstd` command for the zstd seeds:
seeds whose tool is missing are skipped. The seeds are checked in; rerun only to change them.

    python3 -m venv /tmp/seedvenv && /tmp/seedvenv/bin/pip install brotli
    /tmp/seedvenv/bin/python fuzz/seeds/generate.py
"""

import gzip
import os
import shutil
import struct
import subprocess
import zlib

try:
    import brotli
except ImportError:  # br seeds are skipped
    brotli = None

HERE = os.path.dirname(os.path.abspath(__file__))
TEXT = b"hello, world! " * 20 + bytes(range(256))


def write(target, name, data):
    folder = os.path.join(HERE, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def gz(data, **kw):
    return gzip.compress(data, mtime=0, **kw)


def raw_deflate(data):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def gzip_all_flags(data):
    """A gzip member with FTEXT, FHCRC, FEXTRA, FNAME and FCOMMENT."""
    flags = 0x01 | 0x02 | 0x04 | 0x08 | 0x10
    header = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\x02\x03"
    extra = b"AB\x02\x00xy"
    header += struct.pack("<H", len(extra)) + extra
    header += b"name.txt\0" + b"a comment\0"
    header += struct.pack("<H", zlib.crc32(header) & 0xFFFF)
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + raw_deflate(data) + trailer


def zstd(data, *args):
    if shutil.which("zstd") is None:
        return None
    return subprocess.run(
        ["zstd", "-q", "-c", *args], input=data, stdout=subprocess.PIPE, check=True
    ).stdout


def br(data):
    return brotli.compress(data) if brotli else None


def decoder_seeds():
    # Byte 0: max_size/ratio/frame size (0 = 1 MiB, ratio 1000, 1-byte frames); byte 1: trailers.
    gzip_seeds = {
        "text": gz(TEXT),
        "empty": gz(b""),
        "two-members": gz(b"first ") + gz(b"second"),
        "all-flags": gzip_all_flags(TEXT),
        "trailing-garbage": gz(b"data") + b"\0\0junk",
        "zeros": gz(b"\0" * 100000),
    }
    deflate_seeds = {
        "zlib": zlib.compress(TEXT),
        "raw": raw_deflate(TEXT),
        "zlib-empty": zlib.compress(b""),
        "zeros": zlib.compress(b"\0" * 100000),
    }
    br_seeds = {"text": br(TEXT), "empty": br(b""), "zeros": br(b"\0" * 100000)}
    zstd_seeds = {
        "text": zstd(TEXT),
        "checksum": zstd(TEXT, "--check"),
        "no-size": zstd(b"streamed", "--no-content-size"),
        "two-frames": (zstd(b"one ") or b"") + (zstd(b"two") or b""),
        "skippable": struct.pack("<II", 0x184D2A50, 3) + b"abc" + (zstd(b"after") or b""),
        "zeros": zstd(b"\0" * 100000),
    }
    for target, seeds in [
        ("decompress_gzip", gzip_seeds),
        ("decompress_deflate", deflate_seeds),
        ("decompress_br", br_seeds),
        ("decompress_zstd", zstd_seeds),
    ]:
        for name, body in seeds.items():
            if body is None:
                continue
            write(target, name, b"\x00\x00" + body)
            write(target, name + "-chunked-limits", b"\x6d\x01" + body)

    # content_encoding: status, method, flags, line count, lines, body.
    stacked = [
        ("gzip", [b"gzip"], gz(TEXT)),
        ("x-gzip-upper", [b"X-GZIP"], gz(TEXT)),
        ("identity-deflate", [b"identity, deflate"], zlib.compress(TEXT)),
        ("gzip-br", [b"gzip, br"], br(gz(TEXT)) if brotli else None),
        ("two-lines", [b"deflate", b"zstd"], zstd(zlib.compress(TEXT))),
        ("unknown", [b"gzip, compress"], gz(TEXT)),
        ("five", [b"gzip,gzip,gzip,gzip,gzip"], gz(TEXT)),
    ]
    for name, lines, body in stacked:
        if body is None:
            continue
        head = bytes([0, 0, 0, len(lines)]) + b"".join(line + b"\n" for line in lines)
        write("content_encoding", name, head + body)


def header_seeds():
    for i, value in enumerate(
        [
            b"max-age=31536000; includeSubDomains; preload",
            b'max-age="10"',
            b"MAX-AGE=0",
            b" ; max-age=99999999999999999999999 ; ext=\"a;b\\\"c\" ;",
            b"includeSubDomains",
        ]
    ):
        write("parse_sts", f"sts-{i}", value)

    # hsts_store: port, line count, host, header lines, path, host for add.
    write("hsts_store", "learn", b"\x00\x01example.com\nmax-age=100; includeSubDomains\n/a?b\npreload.example")
    write("hsts_store", "port80", b"\x01\x02Sub.Example.COM.\nmax-age=x\nmax-age=5\n/\n127.0.0.1")
    write("hsts_store", "ip", b"\x03\x01[::1]\nmax-age=100\n/p\n[::1]")

    # set_cookie: count, then (uri selector, value) pairs, then the request's selector.
    write(
        "set_cookie",
        "basic",
        b"\x03"
        + b"\x00a=b; Path=/; HttpOnly\n"
        + b"\x01__Host-x=1; Secure; Path=/\n"
        + b"\x02d=1; Domain=example.com; Max-Age=100; SameSite=Lax\n"
        + b"\x02",
    )
    write(
        "set_cookie",
        "expiry",
        b"\x04"
        + b"\x03e=1; Expires=Wed, 21 Oct 2099 07:28:00 GMT; Path=/a\n"
        + b"\x04s=2; Domain=co.uk\n"
        + b"\x06ip=3; Domain=127.0.0.1\n"
        + b"\xf0https://shop.example.org/cart/\n__Secure-t=4; Secure; Domain=EXAMPLE.org; Path=/cart\n"
        + b"\xf0https://a.shop.example.org/cart/x\n",
    )

    # redirect_location: uri, method, flags (bit 1 referer, high nibble limit), hops.
    write(
        "redirect_location",
        "chain",
        b"\x00\x01\x52"
        + b"\x00/next?x#frag\n"
        + b"\x02//other.example/p\n"
        + b"\x03https://example.com/s\n"
        + b"\x04../up/./x?y\n",
    )
    write(
        "redirect_location",
        "schemes",
        b"\x01\x00\x39" + b"\x03http://insecure.example/\n" + b"\x00ftp://x/\n",
    )
    write("redirect_location", "bad", b"\x02\x03\xf0" + b"\x01http://[::1\n" + b"\x00\xff\xfe/caf\xc3\xa9\n")

    # facade_url: method, flags (bit 0 secret, bits 1-2 header count), URL, headers.
    write("facade_url", "plain", b"\x00\x00http://example.com/a?b#c\n")
    write("facade_url", "creds", b"\x01\x02https://user:p%40ss@example.com:8443/\nx-a\nb\n")
    write("facade_url", "secret", b"\x00\x05example.com/x\nuser-agent\nme\naccept\ntext/html\n")
    write("facade_url", "idn", b"\x00\x00http://B\xc3\xbccher.example/\xe2\x82\xac\n")

    # facade_response: status, flags, Content-Length, Content-Type, body.
    write("facade_response", "latin1", b"\x00\x03" + b"5\n" + b"text/plain; charset=iso-8859-1\n" + b"h\xe9llo")
    write("facade_response", "json", b"\x00\x92" + b"application/json\n" + b'{"a": [1, 2.5, "x", null]}')
    write("facade_response", "liar", b"\x04\x8d" + b"99999999999\n" + b"small body")

    # cache_headers: status, response/304/request line counts, time step, second answer.
    write("cache_headers", "fresh", b"\x00\x02\x03\x00\x00\x00" + b'cache-control: max-age=60\netag: "a"\nhello')
    write(
        "cache_headers",
        "revalidate",
        b"\x00\x02\x08\x01\x01\x01"
        + b'cache-control: max-age=1, stale-if-error=100\netag: "a"\netag: "a"\nif-none-match: "a"\nbody',
    )
    write("cache_headers", "swr", b"\x00\x01\x04\x00\x00\x00" + b"cache-control: max-age=1, stale-while-revalidate=60\nbody")
    write(
        "cache_headers",
        "hostile",
        b"\x06\x03\x2f\x01\x01\x00"
        + b"cache-control: max-age=99999999999999999999\nage: 18446744073709551615\ndate: garbage\nage: 99999999999999999999\nx",
    )


def socks_seeds():
    # socks_reply: a flags byte (bit 0: username/password offered; bits 1-3: read size - 1),
    # then the proxy's bytes.
    write("socks_reply", "v5-ipv4", b"\x00" + bytes([5, 0, 0, 1, 10, 0, 0, 1, 0x1F, 0x90]) + b"HTTP")
    write("socks_reply", "v5-ipv6", b"\x02" + bytes([5, 0, 0, 4]) + bytes(16) + bytes([0, 80]))
    write("socks_reply", "v5-domain", b"\x05" + bytes([5, 0, 0, 3, 9]) + b"proxy.lan" + bytes([1, 187]))
    write("socks_reply", "v5-refused", b"\x00" + bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))
    write("socks_reply", "v5-auth", b"\x01" + bytes([5, 2]))
    write("socks_reply", "auth-ok", b"\x01" + bytes([1, 0]))
    write("socks_reply", "v4-granted", b"\x0e" + bytes([0, 0x5A, 0, 80, 127, 0, 0, 1]) + b"tunnel")
    write("socks_reply", "v4-rejected", b"\x00" + bytes([0, 0x5B, 0, 0, 0, 0, 0, 0]))


def header_helper_seeds():
    write("link_parse", "pages", b'</items?page=3>; rel="next", <https://e.example/items?page=1>; rel="first prev"')
    write("link_parse", "params", b'</a>; rel=alternate; title="x, y \\"z\\""; crossorigin; anchor="#top"')
    write("forwarded_parse", "rfc", b'for="[2001:db8:cafe::17]:4711";proto=https;by=_proxy, for=192.0.2.60')
    write("forwarded_parse", "obfuscated", b'for=unknown;by="_a:_port";host="example.com:8443";ext="q\\"x"')
    write(
        "problem_json",
        "rfc",
        b'{"type":"https://example.com/probs/out-of-credit","title":"You do not have enough credit.",'
        b'"status":403,"detail":"Your current balance is 30, but that costs 50.",'
        b'"instance":"/account/12345/msgs/abc","balance":30,"accounts":["/account/12345"]}',
    )
    write("problem_json", "wrong-types", b'{"status":"404","title":7,"type":null,"x":{"y":[1.5e3]}}')
    # websocket_answer: status, flags (bit 0 correct accept, 1 offer protocols, 2 offer
    # permessage-deflate, 3 HTTP/2), then header lines.
    write(
        "websocket_answer",
        "accepted",
        b"\x00\x07upgrade: websocket\nconnection: Upgrade\nsec-websocket-protocol: a\n"
        b"sec-websocket-extensions: permessage-deflate; server_max_window_bits=12\n",
    )
    write("websocket_answer", "unoffered", b"\x00\x01upgrade: websocket\nconnection: upgrade\nsec-websocket-extensions: x\n")
    write("websocket_answer", "h2", b"\x01\x0esec-websocket-protocol: b\n")


def content_range_seeds():
    for i, value in enumerate(
        [
            b"bytes 0-499/1234",
            b"bytes 42-1233/*",
            b"bytes */1234",
            b"BYTES 0-0/1",
            b"bytes 0-18446744073709551613/18446744073709551615",
            b"bytes 1-0/2",
        ]
    ):
        write("content_range", f"content-range-{i}", value)


if __name__ == "__main__":
    content_range_seeds()
    decoder_seeds()
    header_seeds()
    socks_seeds()
    header_helper_seeds()
