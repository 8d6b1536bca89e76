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
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxDelta caps delta-seconds values: RFC 9111 section 1.2.2 says a value
// too large to represent is taken as 2^31 seconds.
const maxDelta = time.Duration(math.MaxInt32) * time.Second

// directives is a parsed Cache-Control header (or targeted field).
// Durations are only meaningful when the matching has-flag is set.
type directives struct {
	noStore, noCache, private, public bool
	mustRevalidate, proxyRevalidate   bool
	mustUnderstand                    bool
	hasMaxAge, hasSMaxAge             bool
	hasSWR, hasSIE                    bool
	maxAge, sMaxAge                   time.Duration
	staleWhileRevalid, staleIfError   time.Duration
	// omit lists, canonicalised, the fields named by the qualified forms
	// no-cache="..." and private="...": the response may be stored and
	// reused without them (RFC 9111 sections 5.2.2.4 and 5.2.2.7).
	omit []string
}

// parseDirectives parses every Cache-Control field value in values.
// Directive names are case-insensitive; unknown directives are ignored.
// Quoted arguments may contain commas. The qualified forms
// no-cache="a, b" and private="a, b" let the response be stored without
// the fields they name; a qualified form with an empty or malformed list
// is taken as the unqualified one. A directive with a malformed
// delta-seconds value is ignored, except max-age and s-maxage, which then
// count as 0 (stale at once), as RFC 9111 section 4.2.1 suggests for
// invalid freshness information. When a directive appears twice, the
// first occurrence counts.
func parseDirectives(values []string) directives {
	var d directives
	for _, v := range values {
		for _, part := range splitDirectives(v) {
			name, arg, hasArg := strings.Cut(strings.TrimSpace(part), "=")
			name = strings.ToLower(strings.TrimSpace(name))
			arg = strings.TrimSpace(arg)
			quoted := len(arg) >= 2 && arg[0] == '"' && arg[len(arg)-1] == '"'
			arg = strings.Trim(arg, `"`)
			switch name {
			case "no-store":
				d.noStore = true
			case "no-cache", "private":
				fields, ok := fieldList(arg)
				if hasArg && quoted && ok {
					d.omit = append(d.omit, fields...)
				} else if name == "no-cache" {
					d.noCache = true
				} else {
					d.private = true
				}
			case "public":
				d.public = true
			case "must-revalidate":
				d.mustRevalidate = true
			case "proxy-revalidate":
				d.proxyRevalidate = true
			case "must-understand":
				d.mustUnderstand = true
			case "max-age":
				if !d.hasMaxAge {
					d.hasMaxAge = true
					d.maxAge, _ = parseDelta(arg)
				}
			case "s-maxage":
				if !d.hasSMaxAge {
					d.hasSMaxAge = true
					d.sMaxAge, _ = parseDelta(arg)
				}
			case "stale-while-revalidate":
				if swr, ok := parseDelta(arg); ok {
					d.hasSWR = true
					d.staleWhileRevalid = swr
				}
			case "stale-if-error":
				if sie, ok := parseDelta(arg); ok {
					d.hasSIE = true
					d.staleIfError = sie
				}
			}
		}
	}
	return d
}

// splitDirectives splits a Cache-Control value at the commas that are not
// inside a quoted string.
func splitDirectives(v string) []string {
	if !strings.Contains(v, `"`) {
		return strings.Split(v, ",")
	}
	var parts []string
	start, inQuote := 0, false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// fieldList parses the field names of a qualified no-cache or private,
// canonicalised. ok is false for an empty list or one that is not all
// field names.
func fieldList(arg string) (names []string, ok bool) {
	for name := range strings.SplitSeq(arg, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !validFieldName(name) {
			return nil, false
		}
		names = append(names, http.CanonicalHeaderKey(name))
	}
	return names, len(names) > 0
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

// understoodStatus reports whether this cache implements the caching
// semantics of the status code, for must-understand (RFC 9111 section
// 5.2.2.3).
func understoodStatus(code int) bool {
	if heuristicStatus(code) {
		return true
	}
	switch code {
	case 302, 303, 307, 403, 451:
		return true
	}
	return false
}

// cookieMode is how responses that set cookies (Set-Cookie) are treated.
type cookieMode uint8

const (
	// cookieStrip stores a response with Set-Cookie and explicit
	// freshness without its Set-Cookie fields: the cookie goes only to
	// the client whose request fetched the response.
	cookieStrip cookieMode = iota
	// cookieStore stores and replays Set-Cookie with the response, as RFC
	// 9111 permits; only for origins whose cookies are not per user.
	cookieStore
	// cookieBypass never stores a response with Set-Cookie.
	cookieBypass
)

// cookieModes maps the -set-cookie flag's values to modes.
var cookieModes = map[string]cookieMode{"strip": cookieStrip, "store": cookieStore, "bypass": cookieBypass}

// policy is the configurable part of the caching rules.
type policy struct {
	// targeted is the canonical name of the targeted cache-control field
	// (RFC 9213) this cache obeys, usually CDN-Cache-Control; empty for
	// none.
	targeted string
	// defaultTTL is the lifetime of responses cacheable by default that
	// give no explicit freshness and get no heuristic freshness.
	defaultTTL time.Duration
	// heuristicMax caps heuristic freshness (RFC 9111 section 4.2.2);
	// 0 disables it.
	heuristicMax time.Duration
	// staleIfError is how long past its freshness a stored response may
	// be served when the origin fails, for responses without their own
	// stale-if-error; 0 for never.
	staleIfError time.Duration
	// cookies is how Set-Cookie responses are treated.
	cookies cookieMode
}

// decision is what the policy says about a response from the origin.
type decision struct {
	// store reports whether the response may be stored; reason says why
	// not, for logs.
	store  bool
	reason string
	// lifetime is the freshness lifetime; 0 means stale at once, so every
	// use is revalidated. heuristic says it was computed heuristically.
	lifetime  time.Duration
	heuristic bool
	// swr is the stale-while-revalidate window after lifetime, and sie
	// the window in which the stale response may answer when the origin
	// fails (stale-if-error, or the policy's bound).
	swr, sie time.Duration
	// revalidate means a stored copy must be revalidated before each use
	// (no-cache), and mustRevalidate that it may never be served stale.
	revalidate, mustRevalidate bool
	// authOK means the response may answer requests that carry
	// Authorization (RFC 9111 section 3.5).
	authOK bool
	// omit lists the fields the stored copy must not keep: those named by
	// a qualified no-cache or private, and Set-Cookie under cookieStrip.
	// The response that fetched it still carries them.
	omit []string
}

// effectiveDirectives returns the directives that govern this cache for a
// response: those of the targeted field when it has a valid, non-empty
// value, else those of Cache-Control (RFC 9213 section 2.2). targeted
// reports the former; Expires is then ignored too.
func (pol policy) effectiveDirectives(h http.Header) (d directives, targeted bool) {
	if pol.targeted != "" {
		if vs := h[pol.targeted]; len(vs) > 0 {
			if td, ok := parseTargeted(vs); ok {
				return td, true
			}
		}
	}
	return parseDirectives(h.Values("Cache-Control")), false
}

// decide applies the storage rules of RFC 9111 section 3 to a response to
// a GET. hasAuth says whether the request carried Authorization. respTime
// is when the response was received, used when Date is missing.
func (pol policy) decide(status int, h http.Header, hasAuth bool, respTime time.Time) decision {
	d, targeted := pol.effectiveDirectives(h)
	dec := decision{
		mustRevalidate: d.mustRevalidate || d.proxyRevalidate || d.hasSMaxAge,
		authOK:         d.public || d.hasSMaxAge || d.mustRevalidate,
		revalidate:     d.noCache,
	}
	if d.hasSWR {
		dec.swr = d.staleWhileRevalid
	}
	dec.sie = pol.staleIfError
	if d.hasSIE {
		dec.sie = d.staleIfError
	}
	if dec.mustRevalidate || dec.revalidate {
		dec.swr, dec.sie = 0, 0
	}
	validators := h.Get("ETag") != "" || h.Get("Last-Modified") != ""
	lifetime, explicit := freshnessLifetime(d, h, respTime, !targeted)
	// must-understand overrides no-store for the status codes whose
	// caching rules this cache implements, and forbids storing the rest.
	noStore := d.noStore && !(d.mustUnderstand && understoodStatus(status))
	_, setsCookie := h["Set-Cookie"]
	switch {
	case d.mustUnderstand && !understoodStatus(status):
		dec.reason = "must-understand with status " + strconv.Itoa(status)
	case noStore:
		dec.reason = "no-store"
	case d.private:
		dec.reason = "private"
	case hasAuth && !dec.authOK:
		dec.reason = "request has Authorization and the response is not public"
	case varyStar(h):
		dec.reason = "Vary: *"
	case status == http.StatusPartialContent:
		dec.reason = "partial content"
	case status < 200 || status == http.StatusNotModified:
		dec.reason = "status " + strconv.Itoa(status) + " is not a storable final response"
	case setsCookie && (pol.cookies == cookieBypass || !explicit):
		dec.reason = "response sets a cookie"
	case !explicit && !heuristicStatus(status) && !d.public:
		dec.reason = "status " + strconv.Itoa(status) + " is not cacheable without explicit freshness"
	case d.noCache && !validators:
		dec.reason = "no-cache without a validator"
	case explicit:
		dec.store, dec.lifetime = true, lifetime
	default:
		if hl, ok := pol.heuristicLifetime(h, respTime); ok {
			dec.store, dec.lifetime, dec.heuristic = true, hl, true
		} else if pol.defaultTTL > 0 {
			dec.store, dec.lifetime = true, pol.defaultTTL
		} else if validators {
			dec.store = true // stale at once: revalidated on every use
		} else {
			dec.reason = "no freshness information and no validator"
		}
	}
	if dec.store {
		dec.omit = d.omit
		if setsCookie && pol.cookies == cookieStrip {
			dec.omit = append(slices.Clip(dec.omit), "Set-Cookie")
		}
	}
	if dec.revalidate {
		dec.lifetime = 0
	}
	return dec
}

// heuristicLifetime returns the heuristic freshness lifetime of a response
// without explicit freshness (RFC 9111 section 4.2.2): a tenth of the time
// since its Last-Modified, at its Date, capped at heuristicMax. ok is false
// when heuristics are off or there is no usable Last-Modified.
func (pol policy) heuristicLifetime(h http.Header, respTime time.Time) (time.Duration, bool) {
	if pol.heuristicMax <= 0 {
		return 0, false
	}
	lm, ok := singleDate(h, "Last-Modified", respTime)
	if !ok {
		return 0, false
	}
	date := respTime
	if t, ok := singleDate(h, "Date", respTime); ok {
		date = t
	}
	if !date.After(lm) {
		return 0, false
	}
	return min(date.Sub(lm)/10, pol.heuristicMax), true
}

// singleDate parses the HTTP-date in the field name of h. ok is false when
// the field is absent, repeated or not a valid HTTP-date.
func singleDate(h http.Header, name string, now time.Time) (time.Time, bool) {
	vs := h[name]
	if len(vs) != 1 {
		return time.Time{}, false
	}
	return parseHTTPDate(vs[0], now)
}

// freshnessLifetime returns the freshness lifetime from s-maxage, max-age
// or, if useExpires, Expires, in that order (RFC 9111 section 4.2.1), and
// whether any of them was present. An Expires that is not one valid
// HTTP-date (also two Expires lines) means already expired (section 5.3).
func freshnessLifetime(d directives, h http.Header, respTime time.Time, useExpires bool) (time.Duration, bool) {
	switch {
	case d.hasSMaxAge:
		return d.sMaxAge, true
	case d.hasMaxAge:
		return d.maxAge, true
	case !useExpires:
		return 0, false
	}
	if len(h["Expires"]) == 0 {
		return 0, false
	}
	expires, ok := singleDate(h, "Expires", respTime)
	if !ok {
		return 0, true
	}
	date := respTime
	if t, ok := singleDate(h, "Date", respTime); ok {
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
	if date, ok := singleDate(h, "Date", respTime); ok {
		apparent = max(respTime.Sub(date), 0)
	}
	corrected := ageValue(h["Age"]) + max(respTime.Sub(reqTime), 0)
	return max(apparent, corrected)
}

// ageValue returns the Age a response carries. Age is a single
// delta-seconds (RFC 9111 section 5.1); a list ("7200, 0", or two Age
// lines) is an invalid repetition of it, and the first member is used,
// as section 4.2.1 allows for repeated freshness information, so that a
// duplicated Age never makes a response look younger than its first value
// says. An Age that is not delta-seconds is ignored (taken as 0).
func ageValue(values []string) time.Duration {
	if len(values) == 0 {
		return 0
	}
	first, _, _ := strings.Cut(values[0], ",")
	v, _ := parseDelta(strings.TrimSpace(first))
	return v
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
