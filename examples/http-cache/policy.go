package main

// This file holds the caching rules: the parts of RFC 9111 (HTTP Caching)
// that a shared cache in front of one origin needs. It decides whether a
// response may be stored, how long it stays fresh, how old a stored
// response is, and whether a stale one may still be served. Nothing here
// does I/O; every time comes from the caller, so the rules can be tested
// with a fixed clock.

import (
	"math"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// maxDelta caps delta-seconds values: RFC 9111 section 1.2.2 says a value
// too large to represent is taken as 2^31 seconds.
const maxDelta = time.Duration(math.MaxInt32) * time.Second

// directives is a parsed Cache-Control header. Durations are only
// meaningful when the matching has-flag is set.
type directives struct {
	noStore, noCache, private, public  bool
	mustRevalidate, proxyRevalidate    bool
	hasMaxAge, hasSMaxAge, hasSWR      bool
	maxAge, sMaxAge, staleWhileRevalid time.Duration
}

// parseDirectives parses every Cache-Control field value in values.
// Directive names are case-insensitive; unknown directives are ignored. The
// qualified forms no-cache="field" and private="field" are treated as their
// unqualified forms, which is the conservative reading for a shared cache.
// A directive with a malformed delta-seconds value is ignored, except
// max-age and s-maxage, which then count as 0 (stale at once), as RFC 9111
// section 4.2.1 suggests for invalid freshness information.
func parseDirectives(values []string) directives {
	var d directives
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(part), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			arg = strings.Trim(strings.TrimSpace(arg), `"`)
			switch name {
			case "no-store":
				d.noStore = true
			case "no-cache":
				d.noCache = true
			case "private":
				d.private = true
			case "public":
				d.public = true
			case "must-revalidate":
				d.mustRevalidate = true
			case "proxy-revalidate":
				d.proxyRevalidate = true
			case "max-age":
				d.hasMaxAge = true
				d.maxAge, _ = parseDelta(arg)
			case "s-maxage":
				d.hasSMaxAge = true
				d.sMaxAge, _ = parseDelta(arg)
			case "stale-while-revalidate":
				if swr, ok := parseDelta(arg); ok {
					d.hasSWR = true
					d.staleWhileRevalid = swr
				}
			}
		}
	}
	return d
}

// parseDelta parses delta-seconds (RFC 9111 section 1.2.2): one or more
// digits, capped at maxDelta. ok is false for anything else.
func parseDelta(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt32 {
		return maxDelta, true // all digits, so only too large
	}
	return time.Duration(n) * time.Second, true
}

// heuristicStatus reports whether responses with this status may be stored
// without explicit freshness information (RFC 9110 section 15.1, "cacheable
// by default"), except 206, which this cache does not store.
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// storableStatus reports whether a response with this status may be stored
// when it carries explicit freshness information.
func storableStatus(code int) bool {
	if heuristicStatus(code) {
		return true
	}
	switch code {
	case 302, 303, 307, 403, 451:
		return true
	}
	return false
}

// decision is what the policy says about a response from the origin.
type decision struct {
	// store reports whether the response may be stored; reason says why
	// not, for logs.
	store  bool
	reason string
	// lifetime is the freshness lifetime; 0 means stale at once, so every
	// use is revalidated.
	lifetime time.Duration
	// swr is the stale-while-revalidate window after lifetime.
	swr time.Duration
	// revalidate means a stored copy must be revalidated before each use
	// (no-cache), and mustRevalidate that it may never be served stale.
	revalidate, mustRevalidate bool
	// authOK means the response may answer requests that carry
	// Authorization (RFC 9111 section 3.5).
	authOK bool
}

// decide applies the storage rules of RFC 9111 section 3 to a response to
// a GET. hasAuth says whether the request carried Authorization. respTime
// is when the response was received, used when Date is missing.
// defaultTTL is the freshness lifetime given to responses with a status
// cacheable by default and no explicit freshness; 0 stores them only if
// they carry a validator, to be revalidated on every use.
func decide(status int, h http.Header, hasAuth bool, respTime time.Time, defaultTTL time.Duration) decision {
	d := parseDirectives(h.Values("Cache-Control"))
	dec := decision{
		mustRevalidate: d.mustRevalidate || d.proxyRevalidate || d.hasSMaxAge,
		authOK:         d.public || d.hasSMaxAge || d.mustRevalidate,
		revalidate:     d.noCache,
	}
	if d.hasSWR {
		dec.swr = d.staleWhileRevalid
	}
	validators := h.Get("ETag") != "" || h.Get("Last-Modified") != ""
	lifetime, explicit := freshnessLifetime(d, h, respTime)
	switch {
	case d.noStore:
		dec.reason = "no-store"
	case d.private:
		dec.reason = "private"
	case hasAuth && !dec.authOK:
		dec.reason = "request has Authorization and the response is not public"
	case h.Get("Set-Cookie") != "":
		dec.reason = "response sets a cookie"
	case varyStar(h):
		dec.reason = "Vary: *"
	case h.Get("Content-Range") != "":
		dec.reason = "partial content"
	case !storableStatus(status) || (!explicit && !heuristicStatus(status)):
		dec.reason = "status " + strconv.Itoa(status) + " is not cacheable"
	case d.noCache && !validators:
		dec.reason = "no-cache without a validator"
	case explicit:
		dec.store, dec.lifetime = true, lifetime
	case defaultTTL > 0:
		dec.store, dec.lifetime = true, defaultTTL
	case validators:
		dec.store = true // stale at once: revalidated on every use
	default:
		dec.reason = "no freshness information and no validator"
	}
	if dec.revalidate {
		dec.lifetime = 0
	}
	return dec
}

// freshnessLifetime returns the freshness lifetime from s-maxage, max-age
// or Expires, in that order (RFC 9111 section 4.2.1), and whether any of
// them was present. An Expires that does not parse means already expired.
func freshnessLifetime(d directives, h http.Header, respTime time.Time) (time.Duration, bool) {
	switch {
	case d.hasSMaxAge:
		return d.sMaxAge, true
	case d.hasMaxAge:
		return d.maxAge, true
	}
	exp := h.Values("Expires")
	if len(exp) == 0 {
		return 0, false
	}
	expires, err := http.ParseTime(exp[0])
	if err != nil {
		return 0, true
	}
	date := respTime
	if t, err := http.ParseTime(h.Get("Date")); err == nil {
		date = t
	}
	return max(expires.Sub(date), 0), true
}

// varyStar reports whether the response varies on everything.
func varyStar(h http.Header) bool {
	for _, name := range varyNames(h) {
		if name == "*" {
			return true
		}
	}
	return false
}

// varyNames returns the request header names listed in Vary, in canonical
// form, without duplicates, in the order given.
func varyNames(h http.Header) []string {
	var names []string
	for _, v := range h.Values("Vary") {
		for part := range strings.SplitSeq(v, ",") {
			name := strings.TrimSpace(part)
			if name == "" {
				continue
			}
			if name != "*" {
				name = textproto.CanonicalMIMEHeaderKey(name)
			}
			dup := false
			for _, n := range names {
				dup = dup || n == name
			}
			if !dup {
				names = append(names, name)
			}
		}
	}
	return names
}

// initialAge returns the corrected initial age of a response (RFC 9111
// section 4.2.3): how old it already was when it arrived, from its Age
// and Date headers and the time the request took.
func initialAge(h http.Header, reqTime, respTime time.Time) time.Duration {
	var apparent time.Duration
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		apparent = max(respTime.Sub(date), 0)
	}
	ageValue, _ := parseDelta(strings.TrimSpace(h.Get("Age")))
	corrected := ageValue + max(respTime.Sub(reqTime), 0)
	return max(apparent, corrected)
}

// hopByHop lists the hop-by-hop header fields (RFC 9110 section 7.6.1)
// that a proxy must not forward, plus the Proxy-* fields, which are
// matched by prefix in stripHopByHop.
var hopByHop = []string{
	"Connection",
	"Keep-Alive",
	"Proxy-Connection",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// stripHopByHop removes from h the hop-by-hop fields, every Proxy-* field,
// and every field named in Connection.
func stripHopByHop(h http.Header) {
	for _, v := range h.Values("Connection") {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopByHop {
		delete(h, name)
	}
	for name := range h {
		if strings.HasPrefix(name, "Proxy-") {
			delete(h, name)
		}
	}
}
