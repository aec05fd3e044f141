"""Operator invalidation on the admin listener (issue 5): PURGE <url>,
POST /purge?url=...&tag=..., vane -s purge:URL / purge-tag:TAG, and the
"cache" section of /stats (the request-path counters of stats.def and the
store's own numbers).

Every purge answer names the primary keys it computed ("keys") and the tags
it was given ("tags") beside the count of stored responses dropped
("purged"), so the URL handling is checked here on the keys themselves;
the end-to-end tests then check that those keys are the ones a request
stores under, by what reached the uvicorn backend (cache_calls of
/cache/{name}).
"""
import json
import subprocess
import urllib.parse
import uuid

import pytest
import requests

from conftest import free_port, vane_bin
from httpraw import RawConn, request

TIMEOUT = 10


def with_admin(vane_factory, backend, extra="", **kw):
    port = free_port()
    v = vane_factory([backend.address], extra='admin = { address = '
                     '"127.0.0.1:%d"; };\n' % port + extra, **kw)
    v.admin = "http://127.0.0.1:%d" % port
    v.admin_port = port
    return v


@pytest.fixture
def av(vane_factory, backend):
    """vane with an admin listener and the memory store (the default)."""
    return with_admin(vane_factory, backend)


def admin_raw(v, data, method="GET"):
    with RawConn(v.admin_port, timeout=TIMEOUT) as c:
        c.send(data)
        return c.read_response(method=method)


def purge(v, target, host=None, headers=()):
    """PURGE target on the admin listener; (status, JSON body)."""
    r = admin_raw(v, request("PURGE", target, host=host or "admin",
                             headers=headers))
    return r.status, json.loads(r.body)


def purge_post(v, query):
    """POST /purge?query, the query sent as it is (requests would
    re-quote a malformed escape)."""
    r = admin_raw(v, request("POST", "/purge?" + query, host="admin",
                             headers=[("Content-Length", "0")]))
    assert r.header("Content-Type") == "application/json"
    return r.status, json.loads(r.body)


def enc(s):
    return urllib.parse.quote(s, safe="")


def stats(v):
    r = requests.get(v.admin + "/stats", timeout=TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


STORE_KEYS = ("objects", "markers", "bytes", "budget", "inserts",
              "evictions", "expired", "purged", "rejected")
REQUEST_KEYS = ("hits", "misses", "stale", "revalidated", "stored",
                "not_stored", "coalesced", "bg_refreshes")


# --------------------------------------------------------------------------
# PURGE <url>

def test_purge_origin_form_names_the_site_with_host(av):
    st, b = purge(av, "/a/b?x=1&y=2", host="Example.COM")
    assert st == 200, b
    # No scheme in the request: both are dropped.
    assert b == {"purged": 0, "keys": ["http://example.com/a/b?x=1&y=2",
                                       "https://example.com/a/b?x=1&y=2"],
                 "tags": []}
    # A default port goes, another stays (per scheme).
    _, b = purge(av, "/", host="example.com:80")
    assert b["keys"] == ["http://example.com/", "https://example.com:80/"]
    _, b = purge(av, "/p", host="example.com:8080")
    assert b["keys"] == ["http://example.com:8080/p",
                         "https://example.com:8080/p"]


def test_purge_absolute_form(av):
    # The request-target's authority is the site (RFC 9112 §3.2.2), not the
    # Host field (the admin listener's own address here).
    st, b = purge(av, "http://Example.com:80/x?q=%20", host="127.0.0.1")
    assert st == 200 and b["keys"] == ["http://example.com/x?q=%20"], b
    _, b = purge(av, "HTTPS://example.com:443")
    assert b["keys"] == ["https://example.com/"]
    _, b = purge(av, "https://example.com:8443/")
    assert b["keys"] == ["https://example.com:8443/"]
    _, b = purge(av, "http://[::1]:8080/v6?a")
    assert b["keys"] == ["http://[::1]:8080/v6?a"]
    _, b = purge(av, "http://[2001:DB8::1]/")
    assert b["keys"] == ["http://[2001:db8::1]/"]


def test_purge_bad_requests(av):
    # No Host in HTTP/1.0: no site named.
    r = admin_raw(av, b"PURGE /x HTTP/1.0\r\n\r\n")
    assert r.status == 400 and b"Host" in r.body, r
    # Userinfo is refused by the strict parser already (RFC 9110 §4.2.4).
    assert admin_raw(av, b"PURGE http://u@h/ HTTP/1.1\r\nHost: h\r\n\r\n"
                     ).status == 400
    # A body is refused, as on every admin endpoint.
    r = admin_raw(av, request("PURGE", "/x", host="h", body=b"x"))
    assert r.status == 400 and b"no body" in r.body
    # PURGE is not a route: other methods on unknown paths still 404.
    assert requests.get(av.admin + "/x", timeout=TIMEOUT).status_code == 404
    # The proxy side never saw any of this.
    assert stats(av)["requests"]["total"] == 0


# --------------------------------------------------------------------------
# POST /purge

def test_post_url_is_percent_decoded_once(av):
    u = "http://Example.com/a%20b/c?q=1&r=x+y"
    st, b = purge_post(av, "url=" + enc(u))
    assert st == 200, b
    # One level of decoding: %20 stays as sent in the key; '+' is '+'.
    assert b == {"purged": 0, "keys": ["http://example.com/a%20b/c?q=1&r=x+y"],
                 "tags": []}
    # Characters a query value may carry unencoded decode to themselves.
    _, b = purge_post(av, "url=http://h/p/q:1")
    assert b["keys"] == ["http://h/p/q:1"]
    # An empty path is "/", also with only a query; the fragment goes.
    _, b = purge_post(av, "url=" + enc("http://h?x=1#frag"))
    assert b["keys"] == ["http://h/?x=1"]
    _, b = purge_post(av, "url=" + enc("https://[::1]:443#f"))
    assert b["keys"] == ["https://[::1]/"]


def test_post_tags_and_urls_together(av):
    st, b = purge_post(av, "tag=user%3A42&tag=team:7&url=" +
                       enc("http://h/x") + "&&tag=" + enc("é"))
    assert st == 200, b
    assert b == {"purged": 0, "keys": ["http://h/x"],
                 "tags": ["user:42", "team:7", "\u00c3\u00a9"]}


@pytest.mark.parametrize("query,why", [
    ("", "url=URL or tag=TAG"),
    ("url=", "bad url="),
    ("url", "bad url="),
    ("tag=", "bad tag="),
    ("url=" + enc("ftp://h/"), "absolute"),
    ("url=" + enc("/just/a/path"), "absolute"),
    ("url=" + enc("http:///nohost"), "not a valid"),
    ("url=" + enc("http://a b/"), "not a valid"),
    ("url=" + enc("http://h/a b"), "not a valid"),
    ("url=" + enc("http://h/\r\nX: y"), "not a valid"),
    ("url=" + enc("http://[::1/"), "not a valid"),
    ("url=" + enc("http://h:99999/"), "not a valid"),
    ("url=" + enc("http://u:p@h/"), "userinfo"),
    ("url=http%3A%2F%2Fh%2%2F", "bad url="),
    ("url=http%3A%2F%2Fh%2F%00", "bad url="),
    ("tag=a%20b", "no space"),
    ("tag=a,b", "no space"),
    ("tag=a%09", "no space"),
    ("tags=x", "url= and tag= parameters only"),
    ("&".join("tag=t%d" % i for i in range(33)), "at most 32"),
])
def test_post_bad_requests(av, query, why):
    st, b = purge_post(av, query)
    assert st == 400 and why in b["error"], (query, b)


def test_purge_routes(av):
    r = requests.get(av.admin + "/purge", timeout=TIMEOUT)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    assert r.headers["Content-Type"] == "application/json"
    r = requests.post(av.admin + "/purge/x", timeout=TIMEOUT)
    assert r.status_code == 404
    # 32 in one request is fine.
    st, b = purge_post(av, "&".join("tag=t%d" % i for i in range(32)))
    assert st == 200 and len(b["tags"]) == 32


def test_cache_off_503(vane_factory, backend):
    v = with_admin(vane_factory, backend, extra='cache = { store = "off"; };\n')
    r = requests.post(v.admin + "/purge?tag=x", timeout=TIMEOUT)
    assert r.status_code == 503 and r.json() == {"error": "cache is off"}
    r = admin_raw(v, request("PURGE", "http://h/x"))
    assert r.status == 503 and json.loads(r.body) == {"error": "cache is off"}
    c = stats(v)["cache"]
    assert c["store"] == "off"
    assert not set(STORE_KEYS) & set(c), c
    assert all(c[k] == 0 for k in REQUEST_KEYS), c
    p = subprocess.run([vane_bin(), "-c", str(v.conf), "-s", "purge-tag:x"],
                       capture_output=True, timeout=TIMEOUT, text=True)
    assert p.returncode == 1 and "503" in p.stderr


# --------------------------------------------------------------------------
# /stats

def test_stats_cache_section(vane_factory, backend):
    v = with_admin(vane_factory, backend, extra='cache = { size = "3M"; };\n')
    c = stats(v)["cache"]
    assert c["store"] == "memory"
    for k in STORE_KEYS + REQUEST_KEYS:
        assert isinstance(c[k], int), (k, c)
    assert c["budget"] == 3 << 20
    assert c["objects"] == c["bytes"] == c["purged"] == 0
    # HEAD answers the same head without the body.
    r = admin_raw(v, request("HEAD", "/stats"), method="HEAD")
    assert r.status == 200 and r.body == b""
    assert int(r.header("Content-Length")) > 0


# --------------------------------------------------------------------------
# vane -s

def test_cli(av):
    def cli(cmd):
        return subprocess.run([vane_bin(), "-c", str(av.conf), "-s", cmd],
                              capture_output=True, timeout=TIMEOUT, text=True)
    p = cli("purge:http://Example.com/a?x=1&y=%41 b")
    assert p.returncode == 1 and "400" in p.stderr   # the space
    p = cli("purge:http://Example.com/a?x=1&y=%41")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"purged": 0, "tags": [],
                                    "keys": ["http://example.com/a?x=1&y=%41"]}
    p = cli("purge-tag:user:42")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"purged": 0, "keys": [],
                                    "tags": ["user:42"]}
    p = cli("purge:")
    assert p.returncode == 2 and "purge:URL" in p.stderr
    p = cli("purge:http://h/" + "a" * 3000)
    assert p.returncode == 2


# --------------------------------------------------------------------------
# End to end: objects stored by requests, dropped by purges.

def backend_calls(backend, name):
    return backend.stats()["cache_calls"].get(name, {}).get("GET", 0)


def cache_status(r):
    return r.headers.get("Cache-Status", "")


def is_hit(r):
    return [p.strip() for p in cache_status(r).split(";")] == ["vane", "hit"]


def get(v, path):
    r = requests.get(v.url + path, timeout=TIMEOUT)
    assert r.status_code == 200, r
    return r


def test_purge_url_end_to_end(av, backend):
    name = "p-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s" % (name, enc("max-age=600"))
    get(av, path)
    r = get(av, path)
    assert is_hit(r), cache_status(r)
    assert backend_calls(backend, name) == 1
    assert stats(av)["cache"]["objects"] == 1
    # Another URL stays.
    other = path + "&o=1"
    get(av, other)
    assert backend_calls(backend, name) == 2
    # The Host the client sent names the site; origin-form PURGE.
    host = "127.0.0.1:%d" % av.port
    st, b = purge(av, path, host=host)
    assert st == 200 and b["purged"] == 1, b
    assert b["keys"][0] == "http://%s%s" % (host, path)
    r = get(av, path)
    assert not is_hit(r), cache_status(r)
    assert backend_calls(backend, name) == 3
    assert is_hit(get(av, other))
    # Absolute-form, and POST /purge?url=, drop it again.
    st, b = purge(av, "http://%s%s" % (host, path))
    assert b["purged"] == 1, b
    get(av, path)
    st, b = purge_post(av, "url=" + enc("http://%s%s" % (host, path)))
    assert b["purged"] == 1, b
    get(av, path)
    assert backend_calls(backend, name) == 5
    st, b = purge_post(av, "url=" + enc("http://%s%s" % (host, path)))
    assert st == 200 and b["purged"] == 1, b
    st, b = purge_post(av, "url=" + enc("http://%s%s" % (host, path)))
    assert st == 200 and b["purged"] == 0, b
    c = stats(av)["cache"]
    assert c["purged"] == 4 and c["hits"] >= 2, c


def test_purge_url_drops_every_variant(av, backend):
    name = "v-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s&vary=Accept-Language" % (name,
                                                     enc("max-age=600"))
    for lang in ("en", "fr", "de"):
        requests.get(av.url + path, headers={"Accept-Language": lang},
                     timeout=TIMEOUT)
    r = requests.get(av.url + path, headers={"Accept-Language": "fr"},
                     timeout=TIMEOUT)
    assert is_hit(r), cache_status(r)
    assert backend_calls(backend, name) == 3
    st, b = purge(av, path, host="127.0.0.1:%d" % av.port)
    assert b["purged"] == 3, b
    r = requests.get(av.url + path, headers={"Accept-Language": "fr"},
                     timeout=TIMEOUT)
    assert not is_hit(r)
    assert backend_calls(backend, name) == 4


def test_purge_tag_end_to_end(av, backend):
    name = "t-" + uuid.uuid4().hex[:8]
    cc = enc("max-age=600")
    both = "/cache/%s?cc=%s&tag=%s" % (name, cc, enc("user:42 team:7"))
    user = "/cache/%s?cc=%s&tag=%s&u=1" % (name, cc, enc("user:42"))
    team = "/cache/%s?cc=%s&tag=%s&t=1" % (name, cc, enc("team:7, x"))
    none = "/cache/%s?cc=%s&n=1" % (name, cc)
    for p in (both, user, team, none):
        r = get(av, p)
        # The tag fields are the cache's, not the client's.
        assert "Cache-Tag" not in r.headers
    for p in (both, user, team, none):
        assert is_hit(get(av, p)), p
    assert backend_calls(backend, name) == 4
    st, b = purge_post(av, "tag=" + enc("user:42"))
    assert st == 200 and b == {"purged": 2, "keys": [], "tags": ["user:42"]}
    # Only the tagged objects went.
    assert not is_hit(get(av, both)) and not is_hit(get(av, user))
    assert is_hit(get(av, team)) and is_hit(get(av, none))
    assert backend_calls(backend, name) == 6
    # Several tags in one call: an object carrying two counts once.
    st, b = purge_post(av, "tag=team:7&tag=user:42")
    assert b["purged"] == 3, b
    assert not is_hit(get(av, team)) and is_hit(get(av, none))
    p = subprocess.run([vane_bin(), "-c", str(av.conf), "-s",
                        "purge-tag:x"], capture_output=True, timeout=TIMEOUT,
                       text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["purged"] == 1


def test_purge_keys_match_the_request_path(av, backend):
    """Hosts spelled differently by clients and by the purge name one
    key: case, default port, IPv6 literals."""
    name = "h-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s" % (name, enc("max-age=600"))
    for host in ("Example.COM:80", "[::1]:8080", "[2001:DB8::1]"):
        get_host(av, path, host)
        assert is_hit(get_host(av, path, host)), host
    assert backend_calls(backend, name) == 3
    st, b = purge_post(av, "url=" + enc("http://example.com" + path))
    assert b["purged"] == 1, b
    st, b = purge(av, "http://[::1]:8080" + path)
    assert b["purged"] == 1, b
    st, b = purge(av, path, host="[2001:db8::1]:80")
    assert b["purged"] == 1, b
    for host in ("example.com", "[::1]:8080", "[2001:db8::1]"):
        assert not is_hit(get_host(av, path, host)), host
    assert backend_calls(backend, name) == 6


def get_host(v, path, host, headers=()):
    with RawConn(v.port, timeout=TIMEOUT) as c:
        c.send(request("GET", path, host=host, headers=headers))
        r = c.read_response()
    assert r.status == 200, r
    r.headers = {"Cache-Status": r.header("Cache-Status") or ""}
    return r


def test_purge_with_key_options(vane_factory, backend):
    """cache.key.ignore_params and cache.key.fields apply to purges as to
    lookups; the purge request's own key fields join its keys."""
    v = with_admin(vane_factory, backend, extra='cache = { key = { '
                   'ignore_params = "utm_source"; fields = '
                   '"Accept-Language"; }; };\n')
    name = "k-" + uuid.uuid4().hex[:8]
    path = "/cache/%s?cc=%s" % (name, enc("max-age=600"))
    host = "127.0.0.1:%d" % v.port
    for lang in ("fr", "en"):
        get_host(v, path + "&utm_source=a", host,
                 headers=[("Accept-Language", lang)])
        assert is_hit(get_host(v, path + "&utm_source=b", host,
                               headers=[("Accept-Language", lang)]))
    assert backend_calls(backend, name) == 2
    # Without the field: the key of requests without it, none stored.
    st, b = purge_post(v, "url=" + enc("http://%s%s&utm_source=c" %
                                       (host, path)))
    assert st == 200 and b["purged"] == 0, b
    assert b["keys"] == ["http://%s%s\nAccept-Language:" % (host, path)]
    st, b = purge(v, path, host=host, headers=[("Accept-Language", "fr")])
    assert b["purged"] == 1, b
    assert b["keys"][0] == "http://%s%s\nAccept-Language:fr" % (host, path)
    assert not is_hit(get_host(v, path, host,
                               headers=[("Accept-Language", "fr")]))
    assert is_hit(get_host(v, path, host, headers=[("Accept-Language", "en")]))
