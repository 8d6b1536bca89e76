package rediscache

import (
	"encoding/json"
	"fmt"
)

// Codec turns values into the bytes stored in Redis and back. Both methods
// must be safe for concurrent use. Decode must not keep data: the slice may
// be reused once it returns.
type Codec[V any] interface {
	// Encode returns the bytes to store for v.
	Encode(v V) ([]byte, error)
	// Decode returns the value that Encode turned into data.
	Decode(data []byte) (V, error)
}

// JSON is a Codec that stores values as encoding/json documents.
type JSON[V any] struct{}

// Encode returns v as JSON.
func (JSON[V]) Encode(v V) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("rediscache: encoding %T as JSON: %w", v, err)
	}
	return b, nil
}

// Decode parses data as JSON into a V.
func (JSON[V]) Decode(data []byte) (V, error) {
	var v V
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("rediscache: decoding JSON into %T: %w", v, err)
	}
	return v, nil
}

// bytesCodec stores a []byte as it is. Decode copies, so that a value handed
// out by the cache never aliases a buffer of the Redis client.
type bytesCodec struct{}

func (bytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }

func (bytesCodec) Decode(data []byte) ([]byte, error) {
	return append([]byte(nil), data...), nil
}

// stringCodec stores a string as its bytes.
type stringCodec struct{}

func (stringCodec) Encode(v string) ([]byte, error) { return []byte(v), nil }

func (stringCodec) Decode(data []byte) (string, error) { return string(data), nil }

// defaultCodec returns the codec for V when Options.Codec is nil: the
// identity for []byte and string, nil for every other type.
func defaultCodec[V any]() Codec[V] {
	var c any
	switch any(*new(V)).(type) {
	case []byte:
		c = bytesCodec{}
	case string:
		c = stringCodec{}
	default:
		return nil
	}
	return c.(Codec[V])
}
