package main

// This file holds the proxy's request path: routing, cache lookup,
// request coalescing, origin fetches, revalidation, background refresh and
// streaming.
//
// Coalescing. Every fetch that may fill the cache runs as a flight,
// registered under the cache key. The first request to miss a key leads
// the flight; requests that miss the same key while it runs wait for it.
// The leader fetches with a context of its own (not the client's), reads
// the body, stores the entry, hands it to the waiters, and only then
// writes its own response, so a slow or vanished leader client never holds
// the others up. When the response cannot be shared (not storable, or over
// the per-object limit) the waiters are told so and each fetch for
// themselves.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shardmap/shardmap"
)

// config is everything newProxy needs. main fills it from flags; tests
// fill it directly.
type config struct {
	// Origin is the server the proxy fronts: scheme, host and an optional
	// path prefix.
	Origin *url.URL
	// MaxBytes bounds the total weight of the stored entries.
	MaxBytes int64
	// MaxObject is the largest response body stored; larger responses are
	// streamed through uncached. It must not exceed MaxBytes.
	MaxObject int64
	// DefaultTTL is the freshness lifetime of responses that are cacheable
	// by default and give no explicit freshness; 0 stores them only if
	// they carry a validator, and then revalidates every use.
	DefaultTTL time.Duration
	// KeepStale is how long a stale entry with a validator is kept for
	// conditional revalidation.
	KeepStale time.Duration
	// HeuristicMax caps the heuristic freshness of responses with
	// Last-Modified and no explicit lifetime (a tenth of their age); 0
	// disables heuristic freshness.
	HeuristicMax time.Duration
	// StaleIfError is how long past its freshness a stored response may
	// answer when the origin fails (connection error, timeout, 500, 502,
	// 503, 504) and the response carries no stale-if-error of its own;
	// 0 serves stale on error only under stale-if-error.
	StaleIfError time.Duration
	// TargetedField is the targeted cache-control field (RFC 9213) this
	// cache obeys over Cache-Control; empty means none.
	TargetedField string
	// Cookies is how responses with Set-Cookie are stored.
	Cookies cookieMode
	// PurgeToken is the bearer token purge requests must carry; empty
	// disables purging.
	PurgeToken string
	// DialTimeout, HeaderTimeout and OriginTimeout bound connecting to the
	// origin, waiting for its response headers, and a whole origin
	// exchange, body included.
	DialTimeout, HeaderTimeout, OriginTimeout time.Duration
	// Log receives the proxy's logs; nil discards them.
	Log *slog.Logger
	// Now is the clock for freshness; nil means time.Now.
	Now func() time.Time
	// Transport, if set, replaces the origin transport built from the
	// timeouts.
	Transport http.RoundTripper
}

// proxy is a caching reverse proxy for one origin. Make one with newProxy
// and release it with Close.
type proxy struct {
	cfg        config
	originBase string
	transport  http.RoundTripper
	store      *store
	// policy is the caching rules from cfg; set by newProxy, read-only
	// afterwards.
	policy  policy
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
	status  *template.Template

	// flights maps cache keys to their fetch in progress.
	flights *shardmap.Map[string, *flight]
	// refreshing holds the keys with a background refresh in progress.
	refreshing *shardmap.Map[string, struct{}]
	// bg tracks background refreshes.
	bg sync.WaitGroup

	// ctx is the parent of shared and background origin requests;
	// Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
}

// flight is one shared origin fetch in progress.
type flight struct {
	// done is closed when the fields below are set.
	done chan struct{}
	// e is the response to serve to waiters, nil if it cannot be shared.
	e *entry
	// res is how e came about (miss or revalidated).
	res result
	// err is the origin error, if the fetch failed.
	err error
}

// errFillAborted is what waiters get when a leader stopped without a
// result (its handler panicked).
var errFillAborted = errors.New("origin fetch aborted")

// newProxy returns a proxy for cfg, checking that cfg is complete.
func newProxy(cfg config) (*proxy, error) {
	switch {
	case cfg.Origin == nil || cfg.Origin.Host == "" || (cfg.Origin.Scheme != "http" && cfg.Origin.Scheme != "https"):
		return nil, errors.New("origin must be an http or https URL with a host")
	case cfg.MaxBytes <= 0:
		return nil, errors.New("max bytes must be positive")
	case cfg.MaxObject <= 0 || cfg.MaxObject > cfg.MaxBytes:
		return nil, fmt.Errorf("max object must be positive and at most max bytes (%d)", cfg.MaxBytes)
	case cfg.MaxObject > maxObjectLimit:
		return nil, fmt.Errorf("max object must be at most %s", formatSize(maxObjectLimit))
	case cfg.DefaultTTL < 0 || cfg.KeepStale < 0 || cfg.HeuristicMax < 0 || cfg.StaleIfError < 0:
		return nil, errors.New("default TTL, keep-stale, heuristic max and stale-if-error must not be negative")
	case cfg.TargetedField != "" && !validFieldName(cfg.TargetedField):
		return nil, fmt.Errorf("targeted field %q is not a valid header field name", cfg.TargetedField)
	case cfg.DialTimeout <= 0 || cfg.HeaderTimeout <= 0 || cfg.OriginTimeout <= 0:
		return nil, errors.New("origin timeouts must be positive")
	}
	st, err := newStore(cfg.MaxBytes, cfg.KeepStale)
	if err != nil {
		return nil, fmt.Errorf("creating the cache: %w", err)
	}
	p := &proxy{
		cfg:        cfg,
		originBase: strings.TrimSuffix(cfg.Origin.String(), "/"),
		transport:  cfg.Transport,
		store:      st,
		metrics:    newMetrics(),
		policy: policy{
			defaultTTL:   cfg.DefaultTTL,
			heuristicMax: cfg.HeuristicMax,
			staleIfError: cfg.StaleIfError,
			cookies:      cfg.Cookies,
		},
		log:        cfg.Log,
		now:        cfg.Now,
		status:     statusTemplate,
		flights:    shardmap.New[string, *flight](),
		refreshing: shardmap.New[string, struct{}](),
	}
	if cfg.TargetedField != "" {
		p.policy.targeted = http.CanonicalHeaderKey(cfg.TargetedField)
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.transport == nil {
		p.transport = newOriginTransport(cfg.DialTimeout, cfg.HeaderTimeout)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// maxObjectLimit is the largest allowed per-object limit: entry weights
// are 32-bit.
const maxObjectLimit = 1 << 30

// newOriginTransport returns the transport for origin requests: bounded
// dial and response-header waits, pooled connections, and no transparent
// decompression (the client's Accept-Encoding goes to the origin as is).
func newOriginTransport(dial, header time.Duration) *http.Transport {
	d := &net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   dial,
		ResponseHeaderTimeout: header,
		ExpectContinueTimeout: time.Second,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     true,
	}
}

// Close cancels background refreshes and shared fetches still running,
// waits for the background ones to return, and stops the cache. Call it
// after the server has shut down.
func (p *proxy) Close() {
	p.cancel()
	p.bg.Wait()
	p.store.c.Close()
}

// waitBackground waits for the background refreshes started so far.
func (p *proxy) waitBackground() { p.bg.Wait() }

// ServeHTTP routes the proxy's own endpoints and proxies everything else.
func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case r.Method == "PURGE":
		p.servePurge(w, r, requestTarget(r))
	case path == "/metrics":
		p.serveMetrics(w, r)
	case path == "/_cache" || path == "/_cache/":
		if r.Method == http.MethodDelete {
			p.servePurge(w, r, "/")
			return
		}
		p.serveStatus(w, r)
	case strings.HasPrefix(path, "/_cache/"):
		if r.Method != http.MethodDelete {
			w.Header().Set("Allow", "DELETE")
			http.Error(w, "only DELETE (purge) is served under /_cache/", http.StatusMethodNotAllowed)
			return
		}
		target, ok := strings.CutPrefix(r.URL.RequestURI(), "/_cache/")
		if !ok {
			http.Error(w, "spell the purge path /_cache/ without escapes", http.StatusBadRequest)
			return
		}
		p.servePurge(w, r, "/"+target)
	default:
		p.serveProxy(w, r)
	}
}

// requestTarget returns the request's target (path and query) as the
// client sent it, which is the cache key; for an absolute-form request,
// the path and query of its URL.
func requestTarget(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		return r.RequestURI
	}
	return r.URL.RequestURI()
}

// hasHeader reports whether h has a non-empty value for the canonical
// name key, without canonicalizing it again (this is on the hit path).
func hasHeader(h http.Header, key string) bool {
	v := h[key]
	return len(v) > 0 && v[0] != ""
}

// serveProxy answers a request for the origin, from the cache when it
// can.
func (p *proxy) serveProxy(w http.ResponseWriter, r *http.Request) {
	target := requestTarget(r)
	if !strings.HasPrefix(target, "/") {
		http.Error(w, "bad request target", http.StatusBadRequest)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		p.bypass(w, r, target)
		return
	}
	if hasHeader(r.Header, "Range") {
		p.serveRangeRequest(w, r, target)
		return
	}
	hasAuth := hasHeader(r.Header, "Authorization")
	for attempt := 0; ; attempt++ {
		now := p.now()
		e, key := p.store.lookup(target, r.Header)
		if e != nil && (!hasAuth || e.dec.authOK) {
			if e.fresh(now) {
				p.serveEntry(w, r, e, resultHit, now)
				return
			}
			if e.staleServable(now) {
				p.startRefresh(key, target, e, r)
				p.serveEntry(w, r, e, resultStale, now)
				return
			}
		}
		if r.Method == http.MethodHead && e != nil && (!hasAuth || e.dec.authOK) && attempt == 0 {
			p.headRevalidate(w, r, target, key, e)
			return
		}
		if hasAuth || attempt == 2 {
			// A request with Authorization is never coalesced: the
			// response may be for this user only.
			p.fill(w, r, target, key, nil, nil)
			return
		}
		fl, leader := p.join(key)
		if leader {
			// A flight that landed between the lookup and the join has
			// stored its response already: look once more.
			if cur, _ := p.store.lookup(target, r.Header); cur != nil && cur != e && cur.fresh(p.now()) {
				fl.e, fl.res = cur, resultHit
				p.land(key, fl)
				p.serveEntry(w, r, cur, resultHit, p.now())
				return
			}
			p.fill(w, r, target, key, e, fl)
			return
		}
		p.metrics.coalesced.Add(1)
		select {
		case <-fl.done:
		case <-r.Context().Done():
			return
		}
		switch {
		case fl.err != nil:
			p.originError(w, r, fl.err)
			return
		case fl.e == nil:
			// The leader's response could not be shared.
			p.fill(w, r, target, key, nil, nil)
			return
		case fl.e.matches(r.Header):
			p.serveEntry(w, r, fl.e, fl.res, p.now())
			return
		}
		// The response varies and this request wants another variant:
		// look again, now that the Vary index is stored.
	}
}

// serveRangeRequest answers a request with Range: from a fresh stored
// complete response if there is one, else from the origin, uncached.
func (p *proxy) serveRangeRequest(w http.ResponseWriter, r *http.Request, target string) {
	now := p.now()
	e, _ := p.store.lookup(target, r.Header)
	if r.Method == http.MethodGet && e != nil && e.status == http.StatusOK && e.fresh(now) &&
		(!hasHeader(r.Header, "Authorization") || e.dec.authOK) {
		p.serveRange(w, r, e, resultHit, now)
		return
	}
	p.bypass(w, r, target)
}

// join returns key's flight, creating it if there is none; leader reports
// whether it was created.
func (p *proxy) join(key string) (fl *flight, leader bool) {
	fl, loaded := p.flights.LoadOrCompute(key, func() *flight {
		return &flight{done: make(chan struct{})}
	})
	return fl, !loaded
}

// land publishes fl's result to its waiters and unregisters it.
func (p *proxy) land(key string, fl *flight) {
	p.flights.Compute(key, func(cur *flight, ok bool) (*flight, shardmap.ComputeOp) {
		if ok && cur == fl {
			return nil, shardmap.DeleteOp
		}
		return cur, shardmap.CancelOp
	})
	close(fl.done)
}

// fill fetches target from the origin and answers r, storing the response
// if the rules allow. The origin's interim responses are relayed to r's
// client. stale, if not nil, is the stored stale entry: it is revalidated
// if it has validators, and answers instead of an origin failure when its
// stale-on-error window allows. fl, if not nil, is the flight r leads: the
// fetch then outlives r's client, and its outcome is handed to the waiters
// before r is answered.
func (p *proxy) fill(w http.ResponseWriter, r *http.Request, target, key string, stale *entry, fl *flight) {
	landed := fl == nil
	finish := func(e *entry, res result, err error) {
		if !landed {
			fl.e, fl.res, fl.err = e, res, err
			p.land(key, fl)
			landed = true
		}
	}
	defer func() {
		if !landed {
			finish(nil, resultMiss, errFillAborted)
		}
	}()

	parent := r.Context()
	if fl != nil {
		parent = p.ctx
	}
	ctx, cancel := context.WithTimeout(parent, p.cfg.OriginTimeout)
	defer cancel()
	hasAuth := hasHeader(r.Header, "Authorization")
	relay := newInterimRelay(w, r)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: relay.got1xx})
	// onError answers with the stale entry if the rules allow it when
	// the origin fails, and reports whether it did.
	onError := func(err error) bool {
		now := p.now()
		if stale == nil || !stale.staleOnError(now) {
			return false
		}
		p.metrics.staleOnError.Add(1)
		p.log.Warn("origin failed; serving stale", "target", target, "err", err)
		finish(stale, resultStale, nil)
		p.serveEntry(w, r, stale, resultStale, now)
		return true
	}
	out, err := p.originRequest(ctx, http.MethodGet, target, r.Header, r.RemoteAddr, r.Host, nil)
	if err != nil {
		finish(nil, resultMiss, err)
		p.originError(w, r, err)
		return
	}
	for _, name := range conditionalHeaders {
		delete(out.Header, name)
	}
	if stale != nil {
		setValidators(out.Header, stale)
	}
	reqTime := p.now()
	resp, err := p.roundTrip(out)
	relay.stop()
	if err != nil {
		if onError(err) {
			return
		}
		finish(nil, resultMiss, err)
		p.originError(w, r, err)
		return
	}
	defer resp.Body.Close()
	respTime := p.now()
	stripHopByHop(resp.Header)

	if resp.StatusCode == http.StatusNotModified && stale != nil && stale.hasValidator() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		e := stale.refreshed(resp.Header, reqTime, respTime, p.policy)
		p.store.put(target, e, respTime)
		finish(e, resultRevalidated, nil)
		omit := e.dec.omit
		if p.policy.cookies != cookieStore {
			omit = append(slices.Clip(omit), "Set-Cookie")
		}
		for _, name := range omit {
			if v := resp.Header[name]; len(v) > 0 {
				w.Header()[name] = v // for this client only
			}
		}
		p.serveEntry(w, r, e, resultRevalidated, respTime)
		return
	}
	if serverError(resp.StatusCode) && onError(fmt.Errorf("origin answered %d", resp.StatusCode)) {
		return
	}

	unshared := resultMiss
	if hasAuth {
		unshared = resultBypass
	}
	dec := p.policy.decide(resp.StatusCode, resp.Header, hasAuth, respTime)
	if !dec.store {
		if !hasAuth {
			p.store.c.Delete(key) // what was stored is outdated
		}
		finish(nil, resultMiss, nil)
		p.logDecision(r, target, dec.reason)
		p.stream(w, r, resp, nil, unshared)
		return
	}
	if resp.ContentLength > p.cfg.MaxObject {
		p.tooLarge(target, key, resp.ContentLength)
		finish(nil, resultMiss, nil)
		p.stream(w, r, resp, nil, unshared)
		return
	}
	body, complete, err := readBody(resp.Body, resp.ContentLength, p.cfg.MaxObject)
	if err != nil {
		err = fmt.Errorf("reading the origin's response body for %s: %w", target, err)
		if onError(err) {
			return
		}
		finish(nil, resultMiss, err)
		p.originError(w, r, err)
		return
	}
	if !complete {
		p.tooLarge(target, key, -1)
		finish(nil, resultMiss, nil)
		p.stream(w, r, resp, body, unshared)
		return
	}
	ekey := target
	if names := varyNames(resp.Header); len(names) > 0 {
		ekey = variantKey(target, names, r.Header)
	}
	own := takeFields(resp.Header, dec.omit)
	e := newEntry(ekey, resp.StatusCode, resp.Header, body, reqTime, respTime, dec, r.Header)
	p.store.put(target, e, respTime)
	finish(e, resultMiss, nil)
	for k, v := range own {
		w.Header()[k] = v // for this client only
	}
	p.serveEntry(w, r, e, resultMiss, respTime)
}

// takeFields removes the named fields from h and returns them.
func takeFields(h http.Header, names []string) http.Header {
	var taken http.Header
	for _, name := range names {
		if v, ok := h[name]; ok {
			if taken == nil {
				taken = http.Header{}
			}
			taken[name] = v
			delete(h, name)
		}
	}
	return taken
}

// serverError reports whether an origin status lets a stale response
// answer instead (RFC 5861 section 4).
func serverError(code int) bool {
	switch code {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// tooLarge records a response streamed through because it exceeds the
// per-object limit, and drops what was stored for its key.
func (p *proxy) tooLarge(target, key string, size int64) {
	p.metrics.tooLarge.Add(1)
	p.store.c.Delete(key)
	p.log.Debug("response over the per-object limit, not stored", "target", target, "size", size, "max_object", p.cfg.MaxObject)
}

// conditionalHeaders are the request's preconditions, which are not sent
// on a fetch meant for the cache: the cache needs the full response.
var conditionalHeaders = []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range"}

// setValidators makes h a conditional request for e's validators.
func setValidators(h http.Header, e *entry) {
	if e.etag != "" {
		h.Set("If-None-Match", e.etag)
	}
	if e.lastModified != "" {
		h.Set("If-Modified-Since", e.lastModified)
	}
}

// readBody reads a response body of declared length n (-1 if unknown) of
// at most limit bytes. complete is false if the body is longer than
// limit; body then holds what was read so far.
func readBody(r io.Reader, n, limit int64) (body []byte, complete bool, err error) {
	if n >= 0 {
		body = make([]byte, n)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, false, err
		}
		return body, true, nil
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(r, limit+1)); err != nil {
		return nil, false, err
	}
	if int64(buf.Len()) > limit {
		return buf.Bytes(), false, nil
	}
	return bytes.Clone(buf.Bytes()), true, nil
}

// startRefresh starts the background refresh of the stale entry e under
// key, unless one is already running.
func (p *proxy) startRefresh(key, target string, e *entry, r *http.Request) {
	if _, running := p.refreshing.LoadOrStore(key, struct{}{}); running {
		return
	}
	p.metrics.refreshes.Add(1)
	header, remote, host := r.Header.Clone(), r.RemoteAddr, r.Host
	p.bg.Go(func() {
		defer p.refreshing.Delete(key)
		if cur, ok := p.store.c.Get(key); !ok || cur != e {
			return // refreshed, replaced or removed since
		}
		if err := p.refresh(key, target, e, header, remote, host); err != nil {
			p.log.Warn("background refresh failed", "target", target, "err", err)
		}
	})
}

// refresh revalidates or refetches the stale entry e for a request with
// the given headers, and stores the result.
func (p *proxy) refresh(key, target string, e *entry, header http.Header, remote, host string) error {
	ctx, cancel := context.WithTimeout(p.ctx, p.cfg.OriginTimeout)
	defer cancel()
	out, err := p.originRequest(ctx, http.MethodGet, target, header, remote, host, nil)
	if err != nil {
		return err
	}
	for _, name := range conditionalHeaders {
		delete(out.Header, name)
	}
	setValidators(out.Header, e)
	reqTime := p.now()
	resp, err := p.roundTrip(out)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	respTime := p.now()
	stripHopByHop(resp.Header)
	if resp.StatusCode == http.StatusNotModified {
		p.store.put(target, e.refreshed(resp.Header, reqTime, respTime, p.policy), respTime)
		return nil
	}
	if serverError(resp.StatusCode) && e.staleOnError(respTime) {
		return fmt.Errorf("origin answered %d; keeping the stale response", resp.StatusCode)
	}
	dec := p.policy.decide(resp.StatusCode, resp.Header, hasHeader(header, "Authorization"), respTime)
	if !dec.store || resp.ContentLength > p.cfg.MaxObject {
		p.store.c.Delete(key)
		return nil
	}
	body, complete, err := readBody(resp.Body, resp.ContentLength, p.cfg.MaxObject)
	if err != nil {
		return fmt.Errorf("reading the origin's response body for %s: %w", target, err)
	}
	if !complete {
		p.store.c.Delete(key)
		return nil
	}
	ekey := target
	if names := varyNames(resp.Header); len(names) > 0 {
		ekey = variantKey(target, names, header)
	}
	takeFields(resp.Header, dec.omit)
	p.store.put(target, newEntry(ekey, resp.StatusCode, resp.Header, body, reqTime, respTime, dec, header), respTime)
	return nil
}

// bypass passes r to the origin without the cache and streams the answer
// back. A successful unsafe method invalidates what is stored for the
// target (RFC 9111 section 4.4).
func (p *proxy) bypass(w http.ResponseWriter, r *http.Request, target string) {
	ctx, cancel := context.WithTimeout(r.Context(), p.cfg.OriginTimeout)
	defer cancel()
	var body io.ReadCloser
	if r.ContentLength != 0 {
		body = r.Body
	}
	out, err := p.originRequest(ctx, r.Method, target, r.Header, r.RemoteAddr, r.Host, body)
	if err != nil {
		p.originError(w, r, err)
		return
	}
	out.ContentLength = r.ContentLength
	relay := newInterimRelay(w, r)
	out = out.WithContext(httptrace.WithClientTrace(out.Context(), &httptrace.ClientTrace{Got1xxResponse: relay.got1xx}))
	resp, err := p.roundTrip(out)
	relay.stop()
	if err != nil {
		p.originError(w, r, err)
		return
	}
	defer resp.Body.Close()
	stripHopByHop(resp.Header)
	if !safeMethod(r.Method) && resp.StatusCode < 400 {
		p.invalidate(r, target, resp.Header)
	}
	p.stream(w, r, resp, nil, resultBypass)
}

// invalidate removes what is stored for target after a successful unsafe
// request, and for the URIs in the response's Location and
// Content-Location when they have the request's origin (RFC 9111 section
// 4.4). A reference is resolved against the request's URI; a different
// host or scheme is another origin, whose responses this cache does not
// hold anyway.
func (p *proxy) invalidate(r *http.Request, target string, h http.Header) {
	p.store.purge(target)
	base := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
	for _, name := range []string{"Location", "Content-Location"} {
		v := firstValue(h, name)
		if v == "" {
			continue
		}
		ref, err := url.Parse(v)
		if err != nil {
			continue
		}
		u := base.ResolveReference(ref)
		if u.Scheme == "http" && strings.EqualFold(u.Host, r.Host) {
			if t := u.RequestURI(); t != target {
				p.store.purge(t)
			}
		}
	}
}

// safeMethod reports whether m is a safe method (RFC 9110 section 9.2.1).
func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// originRequest builds a request to the origin for target, with the
// client's headers (hop-by-hop fields removed) and forwarding headers.
func (p *proxy) originRequest(ctx context.Context, method, target string, header http.Header, remoteAddr, host string, body io.ReadCloser) (*http.Request, error) {
	u, err := url.Parse(p.originBase + target)
	if err != nil {
		return nil, fmt.Errorf("building the origin URL for %q: %w", target, err)
	}
	out, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("building the origin request for %q: %w", target, err)
	}
	out.Header = header.Clone()
	stripHopByHop(out.Header)
	if ip, _, err := net.SplitHostPort(remoteAddr); err == nil {
		if prior := out.Header.Values("X-Forwarded-For"); len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		out.Header.Set("X-Forwarded-For", ip)
	}
	if host != "" {
		out.Header.Set("X-Forwarded-Host", host)
	}
	out.Header.Set("X-Forwarded-Proto", "http")
	return out, nil
}

// roundTrip sends an origin request, counting it and timing it to the
// response headers.
func (p *proxy) roundTrip(req *http.Request) (*http.Response, error) {
	p.metrics.originRequests.Add(1)
	start := time.Now()
	resp, err := p.transport.RoundTrip(req)
	p.metrics.originLatency.observe(time.Since(start))
	if err != nil {
		p.metrics.originErrors.Add(1)
		return nil, fmt.Errorf("origin request %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	return resp, nil
}

// originError answers r for a failed origin request: 504 if the origin
// did not answer in time, 502 for anything else (refused or reset
// connections, bad responses).
func (p *proxy) originError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client is gone
	}
	code, msg := http.StatusBadGateway, "bad gateway: the origin could not be reached\n"
	var ne net.Error
	var oe *net.OpError
	dial := errors.As(err, &oe) && oe.Op == "dial"
	if !dial && (errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())) {
		code, msg = http.StatusGatewayTimeout, "gateway timeout: the origin did not answer in time\n"
	}
	p.log.Warn("origin request failed", "method", r.Method, "target", requestTarget(r), "status", code, "err", err)
	p.metrics.responses[resultMiss].Add(1)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h["X-Cache"] = xCache[resultMiss]
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg)
}

// serveEntry answers r from the stored entry e.
func (p *proxy) serveEntry(w http.ResponseWriter, r *http.Request, e *entry, res result, now time.Time) {
	if res != resultMiss {
		e.hits.Add(1)
	}
	p.metrics.responses[res].Add(1)
	h := w.Header()
	for k, v := range e.header {
		h[k] = v // shared, read-only: newEntry clips the slices
	}
	h["Age"] = ageField(e.age(now))
	h["X-Cache"] = xCache[res]
	if e.status == http.StatusOK && notModified(r.Header, e) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if bodyAllowed(e.status) {
		h["Content-Length"] = e.contentLength
	}
	w.WriteHeader(e.status)
	if r.Method != http.MethodHead && len(e.body) > 0 {
		_, _ = w.Write(e.body)
	}
	p.logAccess(r, e.status, res)
}

// bodyAllowed reports whether a response with this status has a body.
func bodyAllowed(code int) bool {
	return code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// notModified evaluates the client's own preconditions against e (RFC 9110
// section 13.2.2): If-None-Match with weak comparison, else
// If-Modified-Since.
func notModified(req http.Header, e *entry) bool {
	if inm := firstValue(req, "If-None-Match"); inm != "" {
		if e.etag == "" {
			return false
		}
		want := strings.TrimPrefix(e.etag, "W/")
		for tag := range strings.SplitSeq(inm, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == want {
				return true
			}
		}
		return false
	}
	ims := firstValue(req, "If-Modified-Since")
	if ims == "" {
		return false
	}
	since, ok := parseHTTPDate(ims, e.respTime)
	if !ok {
		return false
	}
	// The stored response's modification time is its Last-Modified, else
	// its Date, else when it was received (RFC 9111 section 4.3.2).
	modified, ok := singleDate(e.header, "Last-Modified", e.respTime)
	if !ok {
		if modified, ok = singleDate(e.header, "Date", e.respTime); !ok {
			modified = e.respTime
		}
	}
	return !modified.After(since)
}

// firstValue returns h's first value for the canonical name key.
func firstValue(h http.Header, key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// copyBufs holds buffers for stream.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// stream answers r with resp, writing prefix (already read from resp.Body)
// before the rest of the body. If the origin's body fails midway, the
// client's connection is aborted, so that a truncated body never looks
// complete.
func (p *proxy) stream(w http.ResponseWriter, r *http.Request, resp *http.Response, prefix []byte, res result) {
	p.metrics.responses[res].Add(1)
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	h["X-Cache"] = xCache[res]
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	p.logAccess(r, resp.StatusCode, res)
	if r.Method == http.MethodHead || !bodyAllowed(resp.StatusCode) {
		return
	}
	if len(prefix) > 0 {
		if _, err := w.Write(prefix); err != nil {
			return
		}
	}
	flush := resp.ContentLength < 0
	rc := http.NewResponseController(w)
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client is gone
			}
			if flush {
				_ = rc.Flush()
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			p.log.Warn("origin body failed midway; aborting the response", "target", requestTarget(r), "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// logAccess logs one response at debug level.
func (p *proxy) logAccess(r *http.Request, status int, res result) {
	if !p.log.Enabled(r.Context(), slog.LevelDebug) {
		return
	}
	p.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
		slog.String("method", r.Method),
		slog.String("target", requestTarget(r)),
		slog.Int("status", status),
		slog.String("cache", res.String()),
		slog.String("remote", r.RemoteAddr))
}

// logDecision logs why a response was not stored, at debug level.
func (p *proxy) logDecision(r *http.Request, target, reason string) {
	if p.log.Enabled(r.Context(), slog.LevelDebug) {
		p.log.Debug("response not stored", "target", target, "reason", reason)
	}
}

// clipHeader clips every value slice of h, so that an append to a slice
// shared with a response writer never writes into h's arrays.
func clipHeader(h http.Header) {
	for k, v := range h {
		h[k] = slices.Clip(v)
	}
}
