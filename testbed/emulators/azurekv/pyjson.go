package main

// JSON as Python's json module reads and writes it: objects keep their key order (the first
// position of a key, the last value of a duplicate), ints and floats stay apart, and dumps()
// writes what json.dumps writes (ensure_ascii, Python float repr, the same separators).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Obj is a JSON object (a Python dict): ordered keys.
type Obj struct {
	keys []string
	vals map[string]any
}

// NewObj builds an object from key, value pairs.
func NewObj(kv ...any) *Obj {
	o := &Obj{vals: make(map[string]any, len(kv)/2)}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// Set adds or replaces a key (a replaced key keeps its position).
func (o *Obj) Set(k string, v any) {
	if o.vals == nil {
		o.vals = map[string]any{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// Get returns a key's value.
func (o *Obj) Get(k string) (any, bool) {
	if o == nil {
		return nil, false
	}
	v, ok := o.vals[k]
	return v, ok
}

// GetOr is dict.get(k, def).
func (o *Obj) GetOr(k string, def any) any {
	if v, ok := o.Get(k); ok {
		return v
	}
	return def
}

// Has is `k in dict`.
func (o *Obj) Has(k string) bool {
	_, ok := o.Get(k)
	return ok
}

// Delete removes a key.
func (o *Obj) Delete(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, x := range o.keys {
		if x == k {
			o.keys = append(o.keys[:i:i], o.keys[i+1:]...)
			break
		}
	}
}

// Keys returns the keys in order.
func (o *Obj) Keys() []string {
	if o == nil {
		return nil
	}
	return o.keys
}

// Len is len(dict).
func (o *Obj) Len() int {
	if o == nil {
		return 0
	}
	return len(o.keys)
}

// Copy is a shallow copy (dict(o)).
func (o *Obj) Copy() *Obj {
	if o == nil {
		return nil
	}
	c := &Obj{keys: append([]string(nil), o.keys...), vals: make(map[string]any, len(o.vals))}
	for k, v := range o.vals {
		c.vals[k] = v
	}
	return c
}

// Update is dict.update(other).
func (o *Obj) Update(other *Obj) {
	for _, k := range other.Keys() {
		o.Set(k, other.vals[k])
	}
}

// ---------------------------------------------------------------------------------------
// loads
// ---------------------------------------------------------------------------------------

var errJSON = errors.New("invalid JSON")

// loads is json.loads of UTF-8 text. Values: nil, bool, string, int64, float64, []any, *Obj.
// Integers beyond 64 bits become floats.
func loads(data []byte) (any, error) {
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%w: the text is not UTF-8", errJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := decodeValue(dec)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: extra data", errJSON)
	}
	return v, nil
}

// loadsBytes is json.loads(bytes): a leading UTF-8 BOM is allowed there.
func loadsBytes(data []byte) (any, error) {
	return loads(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: expecting value", errJSON)
		}
		return nil, fmt.Errorf("%w: %v", errJSON, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &Obj{vals: map[string]any{}}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, fmt.Errorf("%w: %v", errJSON, err)
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("%w: expecting a property name", errJSON)
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.Set(k, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%w: %v", errJSON, err)
			}
			return o, nil
		case '[':
			list := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				list = append(list, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, fmt.Errorf("%w: %v", errJSON, err)
			}
			return list, nil
		}
		return nil, fmt.Errorf("%w: unexpected %v", errJSON, t)
	case json.Number:
		s := string(t)
		if !strings.ContainsAny(s, ".eE") {
			if n, err := strconv.ParseInt(s, 10, 64); err == nil {
				return n, nil
			}
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(f, 0) {
			return nil, fmt.Errorf("%w: %v", errJSON, err)
		}
		return f, nil
	case string, bool, nil:
		return t, nil
	}
	return nil, errJSON
}

// ---------------------------------------------------------------------------------------
// dumps
// ---------------------------------------------------------------------------------------

type jsonStyle int

const (
	styleIndent  jsonStyle = iota // json.dumps(v, indent=2)
	styleDefault                  // json.dumps(v): ", " and ": "
	styleCompact                  // json.dumps(v, separators=(",", ":"))
)

// dumps is json.dumps. Values: nil, bool, string, int, int64, float64 (always a Python
// float), []any, []string, []int, *Obj.
func dumps(v any, style jsonStyle) []byte {
	var b strings.Builder
	writeJSON(&b, v, style, 0)
	return []byte(b.String())
}

func writeJSON(b *strings.Builder, v any, style jsonStyle, level int) {
	itemSep, keySep := ", ", ": "
	switch style {
	case styleIndent:
		itemSep = ","
	case styleCompact:
		itemSep, keySep = ",", ":"
	}
	newline := func(l int) {
		if style == styleIndent {
			b.WriteByte('\n')
			b.WriteString(strings.Repeat("  ", l))
		}
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if x {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case float64:
		b.WriteString(pyFloatRepr(x, true))
	case string:
		writeJSONString(b, x)
	case []string:
		list := make([]any, len(x))
		for i, s := range x {
			list[i] = s
		}
		writeJSON(b, list, style, level)
	case []int:
		list := make([]any, len(x))
		for i, n := range x {
			list[i] = n
		}
		writeJSON(b, list, style, level)
	case []any:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(itemSep)
			}
			newline(level + 1)
			writeJSON(b, e, style, level+1)
		}
		newline(level)
		b.WriteByte(']')
	case *Obj:
		if x.Len() == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteString(itemSep)
			}
			newline(level + 1)
			writeJSONString(b, k)
			b.WriteString(keySep)
			writeJSON(b, x.vals[k], style, level+1)
		}
		newline(level)
		b.WriteByte('}')
	default:
		panic(fmt.Sprintf("dumps: unsupported type %T", v))
	}
}

// writeJSONString writes a string as json.dumps does with ensure_ascii=True.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			b.WriteString(`\u` + hexN(int(0xd800|(r>>10)&0x3ff), 4))
			b.WriteString(`\u` + hexN(int(0xdc00|r&0x3ff), 4))
		default:
			b.WriteString(`\u` + hexN(int(r), 4))
		}
	}
	b.WriteByte('"')
}
