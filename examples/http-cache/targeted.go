package main

// This file holds targeted cache-control fields (RFC 9213), such as
// CDN-Cache-Control. Their value is a Structured Field Dictionary (RFC
// 8941 section 3.2), not Cache-Control's looser syntax, so it has its own
// parser: a field that is not a valid Dictionary is ignored as a whole
// (RFC 9213 section 2.1), and the cache falls back to Cache-Control.

import (
	"math"
	"strings"
	"time"
)

// sfItemKind is the type of a Structured Field bare item, as far as the
// targeted directives care.
type sfItemKind uint8

const (
	sfBoolean sfItemKind = iota
	sfInteger
	sfOther // decimal, string, token, byte sequence or inner list
)

// sfMember is one parsed Dictionary member; parseSFDictionary fills it.
type sfMember struct {
	// key is the member's key and kind the type of its value.
	key  string
	kind sfItemKind
	// n is the value of an integer, b that of a boolean.
	n int64
	b bool
}

// parseTargeted parses the values of a targeted field (all lines joined
// with commas, as RFC 8941 section 4.2 says) into directives. ok is false
// when the field is absent, empty or not a valid Dictionary; the caller
// then ignores it. Directives whose value has the wrong type (max-age="10",
// no-store=1) are ignored, as are unknown ones.
func parseTargeted(values []string) (d directives, ok bool) {
	if len(values) == 0 {
		return d, false
	}
	members, ok := parseSFDictionary(strings.Join(values, ","))
	if !ok || len(members) == 0 {
		return d, false
	}
	for _, m := range members {
		flag := m.kind == sfBoolean && m.b
		delta := func() (time.Duration, bool) {
			if m.kind != sfInteger || m.n < 0 {
				return 0, false
			}
			if m.n > math.MaxInt32 {
				return maxDelta, true
			}
			return time.Duration(m.n) * time.Second, true
		}
		switch m.key {
		case "no-store":
			d.noStore = d.noStore || flag
		case "no-cache":
			d.noCache = d.noCache || flag || m.kind == sfOther // no-cache="field": the conservative reading
		case "private":
			d.private = d.private || flag || m.kind == sfOther
		case "public":
			d.public = d.public || flag
		case "must-revalidate":
			d.mustRevalidate = d.mustRevalidate || flag
		case "proxy-revalidate":
			d.proxyRevalidate = d.proxyRevalidate || flag
		case "max-age":
			if v, ok := delta(); ok && !d.hasMaxAge {
				d.hasMaxAge, d.maxAge = true, v
			}
		case "s-maxage":
			if v, ok := delta(); ok && !d.hasSMaxAge {
				d.hasSMaxAge, d.sMaxAge = true, v
			}
		case "stale-while-revalidate":
			if v, ok := delta(); ok {
				d.hasSWR, d.staleWhileRevalid = true, v
			}
		case "stale-if-error":
			if v, ok := delta(); ok {
				d.hasSIE, d.staleIfError = true, v
			}
		}
	}
	return d, true
}

// sfParser is a cursor over a Structured Field value; it belongs to one
// parse call.
type sfParser struct {
	// s is the field value and i the offset of the next byte to read.
	s string
	i int
}

// parseSFDictionary parses an RFC 8941 Dictionary. A later member with the
// same key replaces an earlier one, as section 4.2.2 says.
func parseSFDictionary(s string) ([]sfMember, bool) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfMember
	for p.i < len(p.s) {
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		m := sfMember{key: key, kind: sfBoolean, b: true}
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				if !p.innerList() {
					return nil, false
				}
				m = sfMember{key: key, kind: sfOther}
			} else {
				var ok bool
				if m, ok = p.bareItem(key); !ok {
					return nil, false
				}
				if !p.params() {
					return nil, false
				}
			}
		} else if !p.params() {
			return nil, false
		}
		replaced := false
		for j := range out {
			if out[j].key == key {
				out[j], replaced = m, true
			}
		}
		if !replaced {
			out = append(out, m)
		}
		p.skipOWS()
		if p.i == len(p.s) {
			return out, true
		}
		if p.s[p.i] != ',' {
			return nil, false
		}
		p.i++
		p.skipOWS()
		if p.i == len(p.s) {
			return nil, false // trailing comma
		}
	}
	return out, true
}

// peek returns the next byte, or 0 at the end.
func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// skipSP skips spaces; skipOWS skips spaces and tabs.
func (p *sfParser) skipSP() {
	for p.peek() == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for c := p.peek(); c == ' ' || c == '\t'; c = p.peek() {
		p.i++
	}
}

// key parses a key: lcalpha or "*", then lcalpha, digits, "_-.*".
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !(c >= 'a' && c <= 'z') && c != '*' {
		return "", false
	}
	p.i++
	for c := p.peek(); (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == '*'; c = p.peek() {
		p.i++
	}
	return p.s[start:p.i], true
}

// bareItem parses an item's bare value for the member key.
func (p *sfParser) bareItem(key string) (sfMember, bool) {
	m := sfMember{key: key, kind: sfOther}
	switch c := p.peek(); {
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(key)
	case c == '"':
		p.i++
		for {
			switch c := p.peek(); {
			case c == 0:
				return m, false
			case c == '\\':
				p.i++
				if n := p.peek(); n != '"' && n != '\\' {
					return m, false
				}
				p.i++
			case c == '"':
				p.i++
				return m, true
			case c < 0x20 || c > 0x7e:
				return m, false
			default:
				p.i++
			}
		}
	case c == ':':
		p.i++
		for c := p.peek(); c != ':'; c = p.peek() {
			if !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=') {
				return m, false
			}
			p.i++
		}
		p.i++
		return m, true
	case c == '?':
		p.i++
		switch p.peek() {
		case '0', '1':
			m.kind, m.b = sfBoolean, p.peek() == '1'
			p.i++
			return m, true
		}
		return m, false
	case (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '*':
		p.i++
		for c := p.peek(); isTchar(c) || c == ':' || c == '/'; c = p.peek() {
			p.i++
		}
		return m, true
	}
	return m, false
}

// number parses an Integer (up to 15 digits) or a Decimal (up to 12
// integer and 3 fraction digits).
func (p *sfParser) number(key string) (sfMember, bool) {
	m := sfMember{key: key, kind: sfInteger}
	neg := p.peek() == '-'
	if neg {
		p.i++
	}
	start := p.i
	for c := p.peek(); c >= '0' && c <= '9'; c = p.peek() {
		p.i++
	}
	intDigits := p.i - start
	if intDigits == 0 {
		return m, false
	}
	if p.peek() == '.' {
		p.i++
		fs := p.i
		for c := p.peek(); c >= '0' && c <= '9'; c = p.peek() {
			p.i++
		}
		if f := p.i - fs; intDigits > 12 || f == 0 || f > 3 {
			return m, false
		}
		m.kind = sfOther
		return m, true
	}
	if intDigits > 15 {
		return m, false
	}
	var n int64
	for _, c := range []byte(p.s[start:p.i]) {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	m.n = n
	return m, true
}

// params parses parameters (";key[=item]" repeated), which no targeted
// directive uses: they are checked and dropped.
func (p *sfParser) params() bool {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		key, ok := p.key()
		if !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, ok := p.bareItem(key); !ok {
				return false
			}
		}
	}
	return true
}

// innerList parses "(item item ...)" with its parameters.
func (p *sfParser) innerList() bool {
	p.i++ // (
	for {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return p.params()
		}
		if _, ok := p.bareItem(""); !ok || !p.params() {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
}

// isTchar reports whether c is a token character (RFC 9110 section 5.6.2).
func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validFieldName reports whether s is a valid header field name (a token,
// RFC 9110 section 5.1).
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return true
}
