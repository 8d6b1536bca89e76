package main

// This file holds the relay of interim (1xx) responses: an origin's 103
// Early Hints or 102 Processing reaches the client before the final
// response, as RFC 9110 section 15.2 asks of a proxy. Interim responses
// are never stored: only the final response is.

import (
	"net/http"
	"net/textproto"
	"sync"
)

// interimRelay forwards the interim responses of one origin request to the
// client that made it. The transport calls got1xx from its own goroutine
// while the handler waits in RoundTrip; stop, called when RoundTrip
// returns, makes sure no interim response is written after that.
type interimRelay struct {
	// w is the client's response writer; nil when the client cannot take
	// interim responses (HTTP/1.0).
	w http.ResponseWriter
	// mu guards done and serializes writes to w.
	mu sync.Mutex
	// done is set by stop.
	done bool
}

// newInterimRelay returns a relay to w for the request r.
func newInterimRelay(w http.ResponseWriter, r *http.Request) *interimRelay {
	ir := &interimRelay{}
	if r.ProtoAtLeast(1, 1) {
		ir.w = w
	}
	return ir
}

// got1xx writes one interim response to the client, with its header
// fields minus the hop-by-hop ones, and then removes those fields again
// so that they do not leak into the final response. 100 Continue answers
// the proxy's own request and 101 is not interim here; neither is relayed.
func (ir *interimRelay) got1xx(code int, h textproto.MIMEHeader) error {
	if ir.w == nil || code == http.StatusContinue || code == http.StatusSwitchingProtocols {
		return nil
	}
	ir.mu.Lock()
	defer ir.mu.Unlock()
	if ir.done {
		return nil
	}
	fields := http.Header(h).Clone()
	stripHopByHop(fields)
	wh := ir.w.Header()
	for k, v := range fields {
		wh[k] = v
	}
	ir.w.WriteHeader(code)
	for k := range fields {
		delete(wh, k)
	}
	return nil
}

// stop ends the relay: later interim responses are dropped.
func (ir *interimRelay) stop() {
	ir.mu.Lock()
	ir.done = true
	ir.mu.Unlock()
}
