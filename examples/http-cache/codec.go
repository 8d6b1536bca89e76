package main

// This file holds the wire form of a stored entry, for the shared tier:
// a compact binary encoding of everything the proxy needs to serve,
// revalidate and age a stored response on another instance.
//
// Layout, version 1. Integers are varints (zig-zag for signed ones,
// encoding/binary's Uvarint and Varint); a string or byte slice is its
// length as a uvarint, then its bytes; a list is its length, then its
// items; a time is a flag byte (0 for the zero time) followed by Unix
// nanoseconds; a bool is one byte, 0 or 1.
//
//	version         byte (1)
//	key             string
//	varyIndex       list of string (an index entry; empty otherwise)
//	indexUntil      time
//	indexGen        uvarint
//	status          varint
//	header          list of (name string, values list of string), names sorted
//	body            bytes
//	reqTime         time
//	respTime        time
//	initAge         varint (nanoseconds)
//	flags           uvarint: store, heuristic, revalidate, mustRevalidate, authOK
//	reason          string
//	lifetime, swr, sie  varint (nanoseconds)
//	omit            list of string
//	etag            string
//	lastModified    string
//	varyNames       list of string
//	varyValues      list of string
//
// The hit counter and the formatted Content-Length are not sent: hits are
// counted per instance, and the length is recomputed.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// codecVersion is the first byte of every encoded entry.
const codecVersion = 1

// errCorrupt is wrapped by the errors of decodeEntry.
var errCorrupt = errors.New("corrupt stored entry")

// entryCodec encodes entries for the shared tier (rediscache.Codec).
type entryCodec struct{}

// Encode returns e's wire form.
func (entryCodec) Encode(e *entry) ([]byte, error) { return encodeEntry(e), nil }

// Decode returns the entry data holds; it copies what it keeps.
func (entryCodec) Decode(data []byte) (*entry, error) { return decodeEntry(data) }

// Entry flag bits.
const (
	flagStore = 1 << iota
	flagHeuristic
	flagRevalidate
	flagMustRevalidate
	flagAuthOK
)

// encodeEntry returns e's wire form.
func encodeEntry(e *entry) []byte {
	n := 64 + len(e.key) + len(e.body)
	for k, vs := range e.header {
		n += len(k) + 2
		for _, v := range vs {
			n += len(v) + 2
		}
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = appendString(b, e.key)
	b = appendStrings(b, e.varyIndex)
	b = appendTime(b, e.indexUntil)
	b = binary.AppendUvarint(b, e.indexGen)
	b = binary.AppendVarint(b, int64(e.status))
	names := make([]string, 0, len(e.header))
	for k := range e.header {
		names = append(names, k)
	}
	slices.Sort(names)
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, k := range names {
		b = appendString(b, k)
		b = appendStrings(b, e.header[k])
	}
	b = appendString(b, string(e.body))
	b = appendTime(b, e.reqTime)
	b = appendTime(b, e.respTime)
	b = binary.AppendVarint(b, int64(e.initAge))
	var flags uint64
	for _, f := range [...]struct {
		bit uint64
		set bool
	}{
		{flagStore, e.dec.store}, {flagHeuristic, e.dec.heuristic}, {flagRevalidate, e.dec.revalidate},
		{flagMustRevalidate, e.dec.mustRevalidate}, {flagAuthOK, e.dec.authOK},
	} {
		if f.set {
			flags |= f.bit
		}
	}
	b = binary.AppendUvarint(b, flags)
	b = appendString(b, e.dec.reason)
	b = binary.AppendVarint(b, int64(e.dec.lifetime))
	b = binary.AppendVarint(b, int64(e.dec.swr))
	b = binary.AppendVarint(b, int64(e.dec.sie))
	b = appendStrings(b, e.dec.omit)
	b = appendString(b, e.etag)
	b = appendString(b, e.lastModified)
	b = appendStrings(b, e.varyNames)
	b = appendStrings(b, e.varyValues)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(append(b, 1), t.UnixNano())
}

// decoder reads the wire form; the first error sticks.
type decoder struct {
	// b is what is left to read.
	b []byte
	// err is the first error met.
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", errCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string { return string(d.bytes(what)) }

// strings reads a list; nil when empty, as the proxy builds them.
func (d *decoder) strings(what string) []string {
	n := d.uvarint(what)
	if n > uint64(len(d.b)) { // every item takes at least one byte
		d.fail(what)
		return nil
	}
	if n == 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = d.string(what)
	}
	return ss
}

func (d *decoder) time(what string) time.Time {
	if len(d.b) == 0 {
		d.fail(what)
		return time.Time{}
	}
	set := d.b[0]
	d.b = d.b[1:]
	switch set {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.varint(what))
	}
	d.fail(what)
	return time.Time{}
}

// decodeEntry parses an entry's wire form. The entry copies what it
// keeps, so data may be reused afterwards.
func decodeEntry(data []byte) (*entry, error) {
	if len(data) == 0 || data[0] != codecVersion {
		return nil, fmt.Errorf("%w: not version %d", errCorrupt, codecVersion)
	}
	d := &decoder{b: data[1:]}
	e := &entry{}
	e.key = d.string("key")
	e.varyIndex = d.strings("vary index")
	e.indexUntil = d.time("index expiry")
	e.indexGen = d.uvarint("index generation")
	status := d.varint("status")
	if status < 0 || status > 999 {
		d.fail("status")
	}
	e.status = int(status)
	if nh := d.uvarint("header"); nh > uint64(len(d.b)) {
		d.fail("header")
	} else if nh > 0 {
		e.header = make(http.Header, nh)
		for range nh {
			k := d.string("header name")
			e.header[k] = d.strings("header values")
		}
	}
	if body := d.bytes("body"); len(body) > 0 {
		e.body = slices.Clone(body)
	}
	e.contentLength = []string{strconv.Itoa(len(e.body))}
	e.reqTime = d.time("request time")
	e.respTime = d.time("response time")
	e.initAge = time.Duration(d.varint("initial age"))
	flags := d.uvarint("flags")
	e.dec.store = flags&flagStore != 0
	e.dec.heuristic = flags&flagHeuristic != 0
	e.dec.revalidate = flags&flagRevalidate != 0
	e.dec.mustRevalidate = flags&flagMustRevalidate != 0
	e.dec.authOK = flags&flagAuthOK != 0
	e.dec.reason = d.string("reason")
	e.dec.lifetime = time.Duration(d.varint("lifetime"))
	e.dec.swr = time.Duration(d.varint("stale-while-revalidate"))
	e.dec.sie = time.Duration(d.varint("stale-if-error"))
	e.dec.omit = d.strings("omitted fields")
	e.etag = d.string("ETag")
	e.lastModified = d.string("Last-Modified")
	e.varyNames = d.strings("Vary names")
	e.varyValues = d.strings("Vary values")
	switch {
	case d.err != nil:
		return nil, d.err
	case len(d.b) != 0:
		return nil, fmt.Errorf("%w: %d bytes after the end", errCorrupt, len(d.b))
	case len(e.varyValues) != len(e.varyNames):
		return nil, fmt.Errorf("%w: %d Vary values for %d names", errCorrupt, len(e.varyValues), len(e.varyNames))
	case flags >= flagAuthOK<<1:
		return nil, fmt.Errorf("%w: unknown flags %#x", errCorrupt, flags)
	}
	return e, nil
}
