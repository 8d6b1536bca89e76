package main

// This file holds the stored responses and the cache that bounds them.
//
// Keys. A response without Vary is stored under its request target (path
// and query). A response with Vary is stored under a variant key, the
// request target followed by the values of the request headers it names;
// the request target then holds an index entry that lists those names, so
// a lookup finds the index, builds the variant key from the request and
// looks again. Variant keys start with the request target and a NUL byte,
// which no request target contains, so a purge finds them all by prefix.

import (
	"iter"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/shardmap/shardmap/cache"
)

// entryOverhead is added to every entry's weight for the structures around
// the body and headers, so that a flood of empty responses is bounded too.
const entryOverhead = 256

// entry is one stored response, or a Vary index. An entry is never changed
// once stored, except for its hit counter: a revalidation stores a new
// entry that shares the body.
type entry struct {
	key string
	// varyIndex, if set, makes this an index entry: the stored responses
	// for this request target vary on these request headers.
	varyIndex []string
	// indexUntil is when an index entry's time to live ends.
	indexUntil time.Time

	status int
	// header holds the end-to-end response headers, without Content-Length
	// and Age, which are computed when serving.
	header http.Header
	body   []byte
	// contentLength is len(body) formatted once, for the hot path.
	contentLength []string

	// reqTime and respTime are when the response (or the revalidation that
	// last refreshed it) was requested and received, on the proxy's clock;
	// initAge is its corrected initial age.
	reqTime, respTime time.Time
	initAge           time.Duration

	dec decision
	// etag and lastModified are the validators, empty if absent.
	etag, lastModified string
	// varyValues are the request's values for dec's Vary names, in order.
	varyNames, varyValues []string

	// hits counts the responses served from this entry, other than the
	// one that fetched it (and from the entries it replaced on
	// revalidation), for the status page.
	hits atomic.Int64
}

// newEntry builds an entry for a response. h must already be stripped of
// hop-by-hop fields; it is kept, so the caller must not change it later.
func newEntry(key string, status int, h http.Header, body []byte, reqTime, respTime time.Time, dec decision, req http.Header) *entry {
	initAge := initialAge(h, reqTime, respTime)
	h.Del("Content-Length")
	h.Del("Age")
	clipHeader(h)
	e := &entry{
		key:           key,
		status:        status,
		header:        h,
		body:          body,
		contentLength: []string{strconv.Itoa(len(body))},
		reqTime:       reqTime,
		respTime:      respTime,
		initAge:       initAge,
		dec:           dec,
		etag:          h.Get("ETag"),
		lastModified:  h.Get("Last-Modified"),
		varyNames:     varyNames(h),
	}
	e.varyValues = requestValues(req, e.varyNames)
	return e
}

// age returns the entry's current age at now (RFC 9111 section 4.2.3).
func (e *entry) age(now time.Time) time.Duration {
	return e.initAge + max(now.Sub(e.respTime), 0)
}

// ageFields holds the Age field values for ages below len(ageFields)
// seconds, formatted once: a hit then sets Age without allocating. The
// slices are shared and read-only, like the stored header slices.
var ageFields = func() (v [3600][]string) {
	for i := range v {
		v[i] = []string{strconv.Itoa(i)}
	}
	return v
}()

// ageField returns the Age field value for age, in whole seconds.
func ageField(age time.Duration) []string {
	if s := int64(age / time.Second); s >= 0 && s < int64(len(ageFields)) {
		return ageFields[s]
	}
	return []string{strconv.FormatInt(int64(age/time.Second), 10)}
}

// fresh reports whether the entry may be served at now without asking the
// origin.
func (e *entry) fresh(now time.Time) bool {
	return !e.dec.revalidate && e.dec.lifetime > e.age(now)
}

// staleServable reports whether the stale entry may be served at now while
// a refresh runs in the background (stale-while-revalidate, RFC 5861).
func (e *entry) staleServable(now time.Time) bool {
	if e.dec.swr <= 0 || e.dec.revalidate || e.dec.mustRevalidate {
		return false
	}
	return e.age(now) < e.dec.lifetime+e.dec.swr
}

// staleOnError reports whether the entry may answer at now in place of an
// origin failure: within its stale-if-error window (the response's own,
// or the configured bound) and not forbidden by no-cache,
// must-revalidate, proxy-revalidate or s-maxage (RFC 9111 section 4.2.4).
func (e *entry) staleOnError(now time.Time) bool {
	if e.dec.revalidate || e.dec.mustRevalidate || e.dec.sie <= 0 {
		return false
	}
	return e.age(now) < e.dec.lifetime+e.dec.sie
}

// hasValidator reports whether the entry can be revalidated with a
// conditional request.
func (e *entry) hasValidator() bool { return e.etag != "" || e.lastModified != "" }

// matches reports whether the entry was stored for a request with the same
// values as req for the headers the response varies on.
func (e *entry) matches(req http.Header) bool {
	for i, name := range e.varyNames {
		if headerValue(req, name) != e.varyValues[i] {
			return false
		}
	}
	return true
}

// weight is the entry's size for the cache's byte bound: body, headers,
// key, and a fixed overhead.
func (e *entry) weight() uint32 {
	n := entryOverhead + len(e.key) + len(e.body)
	for k, vs := range e.header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	for _, name := range e.varyIndex {
		n += len(name) + 16
	}
	for i := range e.varyValues {
		n += len(e.varyValues[i]) + 16
	}
	return uint32(min(n, 1<<32-1))
}

// refreshed returns a copy of e updated by a 304 Not Modified response
// (RFC 9111 sections 3.2 and 4.3.4): every header field in the 304
// replaces the stored one of that name, except Content-Length, which
// describes the 304 itself, and Set-Cookie unless the policy stores
// cookies; the freshness is computed anew. h must already be stripped of
// hop-by-hop fields.
func (e *entry) refreshed(h http.Header, reqTime, respTime time.Time, pol policy) *entry {
	merged := e.header.Clone()
	for k, vs := range h {
		if k == "Content-Length" || (k == "Set-Cookie" && pol.cookies != cookieStore) {
			continue
		}
		merged[k] = vs
	}
	merged.Del("Age")
	clipHeader(merged)
	dec := pol.decide(e.status, merged, false, respTime)
	if !dec.store {
		// The origin now forbids storing; serve this once, do not keep.
		dec = decision{revalidate: true}
	}
	for _, name := range dec.omit {
		delete(merged, name)
	}
	dec.authOK = dec.authOK && e.dec.authOK
	n := &entry{
		key:           e.key,
		status:        e.status,
		header:        merged,
		body:          e.body,
		contentLength: e.contentLength,
		reqTime:       reqTime,
		respTime:      respTime,
		initAge:       initialAge(h, reqTime, respTime),
		dec:           dec,
		etag:          merged.Get("ETag"),
		lastModified:  merged.Get("Last-Modified"),
		varyNames:     e.varyNames,
		varyValues:    e.varyValues,
	}
	n.hits.Store(e.hits.Load())
	return n
}

// headerValue returns the values of a request header as one string, the
// form a Vary comparison uses. It normalises what RFC 9110 lets differ
// without changing meaning: the lines are joined as one list (section
// 5.3), white space around list members is dropped (section 5.6.1), and
// for the content-negotiation fields whose members are case-insensitive
// tokens (Accept-Encoding, Accept-Language, Accept-Charset) case is folded.
func headerValue(h http.Header, name string) string {
	vs := h[name]
	if len(vs) == 0 {
		vs = h.Values(name)
	}
	var b strings.Builder
	for _, v := range vs {
		for member := range strings.SplitSeq(v, ",") {
			member = strings.TrimSpace(member)
			if member == "" {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte(',')
			}
			b.WriteString(normaliseParams(member))
		}
	}
	s := b.String()
	switch name {
	case "Accept-Encoding", "Accept-Language", "Accept-Charset":
		s = strings.ToLower(s)
	}
	return s
}

// normaliseParams drops the optional white space around the semicolons
// and equals signs of a list member's parameters ("en ; q=0.5" is
// "en;q=0.5").
func normaliseParams(m string) string {
	if !strings.ContainsAny(m, "; \t") {
		return m
	}
	parts := strings.Split(m, ";")
	for i, part := range parts {
		k, v, ok := strings.Cut(part, "=")
		if ok {
			parts[i] = strings.TrimSpace(k) + "=" + strings.TrimSpace(v)
		} else {
			parts[i] = strings.TrimSpace(part)
		}
	}
	return strings.Join(parts, ";")
}

// requestValues returns req's values for the given header names.
func requestValues(req http.Header, names []string) []string {
	if len(names) == 0 {
		return nil
	}
	vals := make([]string, len(names))
	for i, name := range names {
		vals[i] = headerValue(req, name)
	}
	return vals
}

// variantKey returns the key of the variant of target selected by req's
// values for the named headers.
func variantKey(target string, names []string, req http.Header) string {
	var b strings.Builder
	b.WriteString(target)
	for _, name := range names {
		b.WriteByte(0)
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(headerValue(req, name))
	}
	return b.String()
}

// tier is the storage the store keeps its entries in, under the keys
// described at the top of this file. It is the seam for other storage:
// newStore uses an in-process cache.Cache bounded by bytes; a shared tier
// (Redis, say) would implement the same methods, serialising entries, and
// be set in store.c, or wrap the in-process tier as a second level so that
// hits stay in memory. Implementations must be safe for concurrent use;
// an entry passed to SetWithTTL is never modified afterwards, so a tier
// may keep the pointer.
type tier interface {
	// Get returns the entry stored under key.
	Get(key string) (*entry, bool)
	// SetWithTTL stores e under key for at most ttl.
	SetWithTTL(key string, e *entry, ttl time.Duration)
	// Delete removes key, if stored.
	Delete(key string)
	// All iterates over the stored entries, for purges by prefix and the
	// status page; it need not be a snapshot.
	All() iter.Seq2[string, *entry]
	// Len and Weight report the number of entries and their total weight
	// (entry.weight), for metrics.
	Len() int
	Weight() uint64
	// Close releases the tier's resources.
	Close()
}

// The in-process cache is the default tier.
var _ tier = (*cache.Cache[string, *entry])(nil)

// store is the proxy's response cache: a tier (by default a cache.Cache
// bounded by the total weight of its entries) plus the key scheme for Vary.
type store struct {
	// c holds the entries; set once by newStore.
	c tier
	// maxBytes is the bound, for reports.
	maxBytes int64
	// keepStale is how long an entry with a validator is kept after it
	// goes stale, for conditional revalidation.
	keepStale time.Duration
	// evictions counts entries pushed out by the bound.
	evictions atomic.Uint64
}

// newStore returns an empty store bounded to maxBytes.
func newStore(maxBytes int64, keepStale time.Duration) (*store, error) {
	s := &store{maxBytes: maxBytes, keepStale: keepStale}
	c, err := cache.New(cache.Options[string, *entry]{
		MaxWeight: maxBytes,
		Weigher:   func(_ string, e *entry) uint32 { return e.weight() },
		OnEvict: func(_ string, _ *entry, r cache.Reason) {
			if r == cache.Evicted {
				s.evictions.Add(1)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.c = c
	return s, nil
}

// lookup returns the stored response for a request for target with
// headers req, or nil, and the key the response is (or would be) stored
// under. When target has a Vary index but the request's variant is not
// stored, the variant key is returned with a nil entry.
func (s *store) lookup(target string, req http.Header) (*entry, string) {
	e, ok := s.c.Get(target)
	if !ok {
		return nil, target
	}
	if e.varyIndex == nil {
		return e, target
	}
	key := variantKey(target, e.varyIndex, req)
	v, ok := s.c.Get(key)
	if !ok || !v.matches(req) {
		return nil, key
	}
	return v, key
}

// put stores e for request target, with an index entry if e varies, and
// a time to live that lets the cache reclaim it once it is of no more use:
// an entry is served only while fresh or within its stale-while-revalidate
// or stale-if-error window, and revalidated only if it has a validator. An entry already of
// no use is not stored, and removes what was stored under its key.
func (s *store) put(target string, e *entry, now time.Time) {
	ttl := e.dec.lifetime + max(e.dec.swr, e.dec.sie) - e.age(now)
	if e.hasValidator() {
		ttl = max(ttl, 0) + s.keepStale
	}
	if ttl <= 0 {
		s.c.Delete(e.key)
		return
	}
	ttl = max(ttl, time.Second)
	if len(e.varyNames) > 0 {
		// The index lives as long as the longest-lived variant stored
		// through it.
		until := now.Add(ttl)
		cur, ok := s.c.Get(target)
		if !ok || !slices.Equal(cur.varyIndex, e.varyNames) || cur.indexUntil.Before(until) {
			s.c.SetWithTTL(target, &entry{key: target, varyIndex: e.varyNames, indexUntil: until}, ttl)
		}
	}
	s.c.SetWithTTL(e.key, e, ttl)
}

// purge removes target and all its variants, and returns how many entries
// it removed.
func (s *store) purge(target string) int {
	n := 0
	if _, ok := s.c.Get(target); ok {
		n++
	}
	s.c.Delete(target)
	prefix := target + "\x00"
	var variants []string
	for k := range s.c.All() {
		if strings.HasPrefix(k, prefix) {
			variants = append(variants, k)
		}
	}
	for _, k := range variants {
		s.c.Delete(k)
		n++
	}
	return n
}
