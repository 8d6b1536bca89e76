// Command http-cache is a caching reverse proxy for one slow origin. It
// caches GET and HEAD responses in memory under a byte bound, following
// RFC 9111 as a shared cache: freshness from Cache-Control,
// CDN-Cache-Control (RFC 9213), strict Expires and heuristics, no-store,
// private, no-cache, must-understand, Authorization, Vary, revalidation
// with ETag and Last-Modified (HEAD with HEAD), stale-while-revalidate and
// stale-if-error, Range requests from stored responses, interim 1xx
// responses relayed, and invalidation after unsafe methods. Concurrent
// misses for one key make one origin request. It serves Prometheus metrics
// at /metrics, a status page at /_cache/, and purges with a bearer token.
//
// With no flags it runs in front of a built-in demo origin:
//
//	go run ./examples/http-cache
//
// In front of a real origin:
//
//	go run ./examples/http-cache -origin http://127.0.0.1:9000 -listen :8080 \
//		-max-bytes 256MiB -max-object 8MiB -purge-token-file /etc/http-cache/token
//
// See README.md for every flag and the caching rules.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options is the parsed command line.
type options struct {
	// listen is the address to serve on.
	listen string
	// originOnly runs just the demo origin on listen.
	originOnly bool
	// demoDelay is how long the demo origin takes per response.
	demoDelay time.Duration
	// shutdownTimeout bounds the wait for in-flight requests on SIGINT
	// or SIGTERM.
	shutdownTimeout time.Duration
	// logLevel and logJSON configure the logger.
	logLevel slog.Level
	logJSON  bool
	// proxy is the proxy's configuration; proxy.Origin is nil for the
	// demo origin.
	proxy config
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "http-cache: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "http-cache: %v\n", err)
		stop()
		os.Exit(1)
	}
}

// parseFlags parses and checks the command line. Usage and flag errors go
// to errOut.
func parseFlags(args []string, errOut io.Writer) (options, error) {
	fs := flag.NewFlagSet("http-cache", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var (
		o         options
		origin    = fs.String("origin", "", "origin `URL` (http or https, optional path prefix); empty runs a built-in demo origin")
		maxBytes  = fs.String("max-bytes", "256MiB", "bound on the cache's total size (bodies, headers and per-entry overhead), e.g. 64MiB, 1GiB, 500MB")
		maxObject = fs.String("max-object", "8MiB", "largest response body stored; larger ones are streamed through uncached")
		tokenFile = fs.String("purge-token-file", "", "`file` holding the bearer token for PURGE and DELETE /_cache/...; empty disables purging")
		logLevel  = fs.String("log-level", "info", "log level: debug (one line per request), info, warn or error")
		logFormat = fs.String("log-format", "text", "log format: text or json")
		cookies   = fs.String("set-cookie", "strip", "responses with Set-Cookie and explicit freshness: strip (store without the cookie, which goes only to the client that fetched it), store (store and replay it) or bypass (never store)")
	)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "`address` to serve on")
	fs.BoolVar(&o.originOnly, "origin-only", false, "run only the demo origin, on -listen (for load tests)")
	fs.DurationVar(&o.demoDelay, "demo-delay", 200*time.Millisecond, "how long the demo origin takes to answer")
	fs.DurationVar(&o.proxy.DefaultTTL, "default-ttl", 0, "freshness for responses cacheable by default that give none (no max-age, s-maxage or Expires); 0 stores them only with a validator, revalidated on every use")
	fs.DurationVar(&o.proxy.HeuristicMax, "heuristic-max", 24*time.Hour, "cap on heuristic freshness (a tenth of the time since Last-Modified) for responses without an explicit lifetime; 0 disables it")
	fs.DurationVar(&o.proxy.StaleIfError, "stale-if-error", time.Minute, "how long past its freshness a stored response may answer when the origin fails (unreachable, timeout, 500, 502, 503, 504), unless the response says otherwise; 0 only with the response's stale-if-error")
	fs.StringVar(&o.proxy.TargetedField, "targeted-cc", "CDN-Cache-Control", "targeted cache-control `field` (RFC 9213) obeyed over Cache-Control; empty for none")
	fs.DurationVar(&o.proxy.KeepStale, "keep-stale", 10*time.Minute, "how long a stale response with an ETag or Last-Modified is kept for revalidation")
	fs.DurationVar(&o.proxy.DialTimeout, "dial-timeout", 5*time.Second, "timeout for connecting to the origin")
	fs.DurationVar(&o.proxy.HeaderTimeout, "header-timeout", 30*time.Second, "timeout for the origin's response headers")
	fs.DurationVar(&o.proxy.OriginTimeout, "origin-timeout", 2*time.Minute, "timeout for a whole origin exchange, body included")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long SIGINT or SIGTERM waits for in-flight requests")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: http-cache [flags]\n\nA caching reverse proxy for one origin. Flags:\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q (all settings are flags; see -h)", fs.Arg(0))
	}

	var err error
	if _, _, err := net.SplitHostPort(o.listen); err != nil {
		return o, fmt.Errorf("-listen %q: want host:port: %w", o.listen, err)
	}
	if o.proxy.MaxBytes, err = parseSize(*maxBytes); err != nil {
		return o, fmt.Errorf("-max-bytes: %w", err)
	}
	if o.proxy.MaxObject, err = parseSize(*maxObject); err != nil {
		return o, fmt.Errorf("-max-object: %w", err)
	}
	switch {
	case o.proxy.MaxBytes <= 0:
		return o, errors.New("-max-bytes must be more than 0")
	case o.proxy.MaxObject <= 0:
		return o, errors.New("-max-object must be more than 0")
	case o.proxy.MaxObject > o.proxy.MaxBytes:
		return o, fmt.Errorf("-max-object (%s) must not exceed -max-bytes (%s)", formatSize(o.proxy.MaxObject), formatSize(o.proxy.MaxBytes))
	case o.proxy.MaxObject > maxObjectLimit:
		return o, fmt.Errorf("-max-object (%s) must be at most %s", formatSize(o.proxy.MaxObject), formatSize(maxObjectLimit))
	}
	for _, d := range []struct {
		name     string
		v        time.Duration
		positive bool
	}{
		{"default-ttl", o.proxy.DefaultTTL, false},
		{"keep-stale", o.proxy.KeepStale, false},
		{"heuristic-max", o.proxy.HeuristicMax, false},
		{"stale-if-error", o.proxy.StaleIfError, false},
		{"demo-delay", o.demoDelay, false},
		{"dial-timeout", o.proxy.DialTimeout, true},
		{"header-timeout", o.proxy.HeaderTimeout, true},
		{"origin-timeout", o.proxy.OriginTimeout, true},
		{"shutdown-timeout", o.shutdownTimeout, true},
	} {
		if d.v < 0 || (d.positive && d.v == 0) {
			return o, fmt.Errorf("-%s must be %s, got %v", d.name, map[bool]string{true: "positive", false: "0 or more"}[d.positive], d.v)
		}
	}
	mode, ok := cookieModes[*cookies]
	if !ok {
		return o, fmt.Errorf("-set-cookie %q: want strip, store or bypass", *cookies)
	}
	o.proxy.Cookies = mode
	if o.proxy.TargetedField != "" && !validFieldName(o.proxy.TargetedField) {
		return o, fmt.Errorf("-targeted-cc %q: not a header field name", o.proxy.TargetedField)
	}
	if *origin != "" {
		if o.originOnly {
			return o, errors.New("-origin-only runs the demo origin; it takes no -origin")
		}
		u, err := url.Parse(*origin)
		if err != nil {
			return o, fmt.Errorf("-origin: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return o, fmt.Errorf("-origin %q: want an http:// or https:// URL with a host and no query", *origin)
		}
		o.proxy.Origin = u
	}
	if *tokenFile != "" {
		tok, err := readToken(*tokenFile)
		if err != nil {
			return o, fmt.Errorf("-purge-token-file: %w", err)
		}
		o.proxy.PurgeToken = tok
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return o, fmt.Errorf("-log-level %q: want debug, info, warn or error", *logLevel)
	}
	switch *logFormat {
	case "text":
	case "json":
		o.logJSON = true
	default:
		return o, fmt.Errorf("-log-format %q: want text or json", *logFormat)
	}
	return o, nil
}

// readToken reads a purge token: the file's content without surrounding
// white space. It must not be empty or contain white space.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	switch {
	case tok == "":
		return "", fmt.Errorf("%s is empty", path)
	case strings.ContainsAny(tok, " \t\r\n"):
		return "", fmt.Errorf("%s: the token must be one line without spaces", path)
	}
	return tok, nil
}

// sizeUnits maps size suffixes, lower-cased, to their multipliers.
var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1000,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1000 * 1000,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1000 * 1000 * 1000,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1000 * 1000 * 1000 * 1000,
}

// parseSize parses a byte size: a non-negative number, optionally with a
// fraction, and an optional unit: B, KiB, MiB, GiB, TiB (powers of 1024;
// K, M, G, T mean the same), or KB, MB, GB, TB (powers of 1000). Units are
// case-insensitive and may follow a space: "256MiB", "1.5 GiB", "500MB".
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(t)
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("invalid size %q: want a number and an optional unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)", s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n > math.MaxInt64/mult {
			return 0, fmt.Errorf("invalid size %q: too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q: %q is not a number", s, num)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large", s)
	}
	return int64(v), nil
}

// formatSize formats n bytes for people: whole units where exact
// ("256MiB"), else one decimal ("1.5KiB").
func formatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i, v := 0, float64(n)
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == math.Trunc(v) {
		return fmt.Sprintf("%d%s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}

// newLogger returns the logger the options ask for, writing to w.
func newLogger(o options, w io.Writer) *slog.Logger {
	ho := &slog.HandlerOptions{Level: o.logLevel}
	if o.logJSON {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}

// newServer returns an http.Server for h with the proxy's client-side
// limits.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// run serves until ctx ends, then shuts down gracefully. It prints where
// it listens, and for the demo what to try, to out.
func run(ctx context.Context, o options, out io.Writer) error {
	log := newLogger(o, os.Stderr)
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", o.listen, err)
	}
	if o.originOnly {
		srv := newServer(newDemoOrigin(o.demoDelay), log)
		fmt.Fprintf(out, "demo origin on http://%s\n", ln.Addr())
		return serve(ctx, srv, ln, o.shutdownTimeout, log)
	}

	cfg := o.proxy
	cfg.Log = log
	var demo *http.Server
	if cfg.Origin == nil {
		dln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for the demo origin: %w", err)
		}
		demo = newServer(newDemoOrigin(o.demoDelay), log)
		go func() {
			if err := demo.Serve(dln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("demo origin stopped", "err", err)
			}
		}()
		cfg.Origin = &url.URL{Scheme: "http", Host: dln.Addr().String()}
	}
	p, err := newProxy(cfg)
	if err != nil {
		ln.Close()
		return fmt.Errorf("configuring the proxy: %w", err)
	}
	log.Info("proxy listening", "addr", ln.Addr().String(), "origin", cfg.Origin.String(),
		"max_bytes", cfg.MaxBytes, "max_object", cfg.MaxObject, "purge", cfg.PurgeToken != "")
	if demo != nil {
		printDemoHelp(out, "http://"+ln.Addr().String(), cfg.Origin.String(), cfg.PurgeToken != "")
	}
	err = serve(ctx, newServer(p, log), ln, o.shutdownTimeout, log)
	p.Close()
	if demo != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = demo.Shutdown(sctx)
		cancel()
	}
	return err
}

// serve runs srv on ln until ctx ends, then shuts it down: it stops
// accepting, lets in-flight requests finish for up to grace, and closes
// what is left after that.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		<-errc
		return fmt.Errorf("shutting down: in-flight requests did not finish within %v: %w", grace, err)
	}
	<-errc
	log.Info("stopped")
	return nil
}

// printDemoHelp tells a person what to try against the demo.
func printDemoHelp(out io.Writer, proxyURL, originURL string, purge bool) {
	fmt.Fprintf(out, `
http-cache is serving %[1]s in front of the demo origin at %[2]s
(every origin response takes -demo-delay). Try, watching X-Cache and Age:

  curl -si %[1]s/fresh                       # max-age=30: MISS, then HIT
  curl -si %[1]s/shared                      # s-maxage=60 wins over max-age=5
  curl -si %[1]s/expires                     # Expires 20s after Date
  curl -si %[1]s/nostore                     # no-store: always MISS
  curl -si %[1]s/private                     # private: never stored
  curl -si %[1]s/etag                        # no-cache + ETag: REVALIDATED (304 from origin)
  curl -si %[1]s/lastmod                     # Last-Modified only: fresh for 10%% of its age, then If-Modified-Since
  curl -si -H 'Accept-Language: fr' %[1]s/vary   # one stored copy per language
  curl -si %[1]s/swr                         # max-age=5, stale-while-revalidate=30: STALE after 5s
  curl -si %[1]s/big -o /dev/null            # 16MiB, over -max-object: streamed, never stored
  curl -si %[1]s/asset/logo.png?size=4096    # public, max-age=3600, ETag

  status page: %[1]s/_cache/
  metrics:     %[1]s/metrics
`, proxyURL, originURL)
	if purge {
		fmt.Fprintf(out, "  purge:       curl -si -X PURGE -H \"Authorization: Bearer $(cat TOKENFILE)\" %s/fresh\n\n", proxyURL)
	} else {
		fmt.Fprintf(out, "  purge is disabled; start with -purge-token-file FILE to enable it\n\n")
	}
}
