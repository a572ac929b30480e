package main

// Small ports of the Python standard library behaviour the original emulator relied on
// (urllib.parse, base64, int(), str(), bytes.decode(errors="replace")), so that paths,
// queries, tokens and error messages come out the same.

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// latin1 turns raw bytes into the string Python's http.server sees (the request line and
// header values are decoded as ISO-8859-1).
func latin1(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

// decodeUTF8Replace is bytes.decode("utf-8", "replace"): one U+FFFD per maximal invalid subpart.
func decodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out.WriteRune(r)
			i += size
			continue
		}
		out.WriteRune(utf8.RuneError)
		i += maximalSubpart(b[i:])
	}
	return out.String()
}

func maximalSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c == 0xE0:
		need, lo = 2, 0xA0
	case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
		need = 2
	case c == 0xED:
		need, hi = 2, 0x9F
	case c == 0xF0:
		need, lo = 3, 0x90
	case c >= 0xF1 && c <= 0xF3:
		need = 3
	case c == 0xF4:
		need, hi = 3, 0x8F
	default:
		return 1
	}
	n := 1
	for k := 0; k < need && n < len(b); k++ {
		x := b[n]
		if k == 0 {
			if x < lo || x > hi {
				return n
			}
		} else if x < 0x80 || x > 0xBF {
			return n
		}
		n++
	}
	return n
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// unquote is urllib.parse.unquote (UTF-8, errors="replace"): valid %XX escapes in ASCII runs are
// decoded, anything else is kept as it is.
func unquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); {
		// an ASCII run
		j := i
		for j < len(s) && s[j] < 0x80 {
			j++
		}
		if j > i {
			out.WriteString(unquoteASCII(s[i:j]))
		}
		// a non-ASCII run, kept as is
		k := j
		for k < len(s) && s[k] >= 0x80 {
			k++
		}
		out.WriteString(s[j:k])
		i = k
	}
	return out.String()
}

func unquoteASCII(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			buf = append(buf, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		buf = append(buf, s[i])
	}
	return decodeUTF8Replace(buf)
}

func unquotePlus(s string) string {
	return unquote(strings.ReplaceAll(s, "+", " "))
}

// query is the result of urllib.parse.parse_qs(..., keep_blank_values=True).
type query map[string][]string

// parseQS is urllib.parse.parse_qs with keep_blank_values=True and the "&" separator.
func parseQS(qs string) query {
	out := query{}
	if qs == "" {
		return out
	}
	for _, nv := range strings.Split(qs, "&") {
		if nv == "" {
			continue
		}
		name, value, _ := strings.Cut(nv, "=")
		name, value = unquotePlus(name), unquotePlus(value)
		out[name] = append(out[name], value)
	}
	return out
}

// last is Request.q(): the last value of a parameter.
func (q query) last(name string) (string, bool) {
	v := q[name]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

const schemeChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-."

// urlsplitPathQuery is the (path, query) of urllib.parse.urlsplit.
func urlsplitPathQuery(url string) (path, rawQuery string) {
	url = strings.TrimLeftFunc(url, func(r rune) bool { return r <= ' ' })
	for _, c := range []string{"\t", "\r", "\n"} {
		url = strings.ReplaceAll(url, c, "")
	}
	if i := strings.IndexByte(url, ':'); i > 0 && url[0] < 0x80 && unicode.IsLetter(rune(url[0])) {
		ok := true
		for _, c := range url[:i] {
			if !strings.ContainsRune(schemeChars, c) {
				ok = false
				break
			}
		}
		if ok {
			url = url[i+1:]
		}
	}
	if strings.HasPrefix(url, "//") {
		delim := len(url)
		for _, c := range "/?#" {
			if w := strings.IndexRune(url[2:], c); w >= 0 && w+2 < delim {
				delim = w + 2
			}
		}
		url = url[delim:]
	}
	if i := strings.IndexByte(url, '#'); i >= 0 {
		url = url[:i]
	}
	if i := strings.IndexByte(url, '?'); i >= 0 {
		return url[:i], url[i+1:]
	}
	return url, ""
}

// pyWhitespace is str.isspace() for the characters that matter here.
func pyIsSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x1f, 0x85:
		return true
	}
	return r > 0x7f && unicode.IsSpace(r)
}

func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// bytesStrip is bytes.strip(): ASCII whitespace only.
func bytesStrip(b []byte) []byte {
	isWS := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' }
	for len(b) > 0 && isWS(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isWS(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

var errInvalidInt = errors.New("invalid int")

// pyInt parses a string as int() does (base 10: surrounding whitespace, a sign, digits with
// single underscores between them). Values beyond 64 bits saturate.
func pyInt(s string) (int64, error) {
	t := pyStrip(s)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if t == "" || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, errInvalidInt
	}
	var n uint64
	over := false
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c == '_' {
			continue
		}
		if c < '0' || c > '9' {
			return 0, errInvalidInt
		}
		if n > (math.MaxUint64-9)/10 {
			over = true
		} else {
			n = n*10 + uint64(c-'0')
		}
	}
	switch {
	case neg && (over || n > 1<<63):
		return math.MinInt64, nil
	case neg:
		return -int64(n), nil
	case over || n > math.MaxInt64:
		return math.MaxInt64, nil
	}
	return int64(n), nil
}

// intLiteralError is the message of int()'s ValueError.
func intLiteralError(s string) string {
	return "invalid literal for int() with base 10: " + pyRepr(s)
}

// b64url is emulator_common.b64url: URL-safe base64 without padding.
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

var errBase64 = errors.New("invalid base64")

const b64Std = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// a2bBase64 is binascii.a2b_base64(strict_mode=False): characters outside the alphabet are
// skipped, decoding stops at a complete pad sequence.
func a2bBase64(s string) ([]byte, error) {
	var table [256]byte
	for i := range table {
		table[i] = 0xff
	}
	for i := 0; i < len(b64Std); i++ {
		table[b64Std[i]] = byte(i)
	}
	out := make([]byte, 0, len(s)*3/4+3)
	quad, pads := 0, 0
	var left byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v := table[c]
		if v == 0xff {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			quad, left = 1, v
		case 1:
			quad = 2
			out = append(out, left<<2|v>>4)
			left = v & 0x0f
		case 2:
			quad = 3
			out = append(out, left<<4|v>>2)
			left = v & 0x03
		case 3:
			quad = 0
			out = append(out, left<<6|v)
			left = 0
		}
	}
	if quad != 0 {
		return nil, errBase64
	}
	return out, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// b64decode is base64.b64decode(s) (standard alphabet, not validated).
func b64decode(s string) ([]byte, error) {
	if !isASCII(s) {
		return nil, errBase64
	}
	return a2bBase64(s)
}

// b64urlDecode is emulator_common.b64url_decode: strip, re-pad, urlsafe_b64decode.
func b64urlDecode(text string) ([]byte, error) {
	text = pyStrip(text)
	if !isASCII(text) {
		return nil, errBase64
	}
	text += strings.Repeat("=", (4-len(text)%4)%4)
	text = strings.NewReplacer("-", "+", "_", "/").Replace(text)
	return a2bBase64(text)
}

// runeLen is len() of a Python str.
func runeLen(s string) int { return utf8.RuneCountInString(s) }

// runePrefix is s[:n] of a Python str.
func runePrefix(s string, n int) string {
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// pyFloatRepr is repr(float) (json=true: NaN/Infinity as json.dumps writes them).
func pyFloatRepr(f float64, json bool) string {
	switch {
	case math.IsNaN(f):
		if json {
			return "NaN"
		}
		return "nan"
	case math.IsInf(f, 1):
		if json {
			return "Infinity"
		}
		return "inf"
	case math.IsInf(f, -1):
		if json {
			return "-Infinity"
		}
		return "-inf"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±XX
	mant, expText, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(expText)
	if exp < -4 || exp >= 16 {
		sign := "+"
		if exp < 0 {
			sign, exp = "-", -exp
		}
		return mant + "e" + sign + leftPad2(exp)
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

func leftPad2(n int) string {
	s := strconv.Itoa(n)
	if len(s) < 2 {
		s = "0" + s
	}
	return s
}

// pyStrRepr is repr(str).
func pyStrRepr(s string) string {
	quote := byte('\'')
	if strings.Contains(s, "'") && !strings.Contains(s, "\"") {
		quote = '"'
	}
	var b strings.Builder
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == rune(quote):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			b.WriteString(`\x` + hex2(int(r)))
		case r < 0x80 || unicode.IsPrint(r):
			b.WriteRune(r)
		case r <= 0xff:
			b.WriteString(`\x` + hex2(int(r)))
		case r <= 0xffff:
			b.WriteString(`\u` + hexN(int(r), 4))
		default:
			b.WriteString(`\U` + hexN(int(r), 8))
		}
	}
	b.WriteByte(quote)
	return b.String()
}

func hex2(n int) string { return hexN(n, 2) }

func hexN(n, width int) string {
	s := strconv.FormatInt(int64(n), 16)
	return strings.Repeat("0", max(0, width-len(s))) + s
}

// pyRepr is repr() of a JSON value as Python holds it.
func pyRepr(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		if x {
			return "True"
		}
		return "False"
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return pyFloatRepr(x, false)
	case string:
		return pyStrRepr(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyStrRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *Obj:
		parts := make([]string, 0, x.Len())
		for _, k := range x.keys {
			parts = append(parts, pyStrRepr(k)+": "+pyRepr(x.vals[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "?"
}

// pyStr is str() of a JSON value.
func pyStr(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return pyRepr(v)
}

// truthy is Python's bool() of a JSON value.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case int:
		return x != 0
	case float64:
		return x != 0
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case *Obj:
		return x.Len() > 0
	}
	return true
}

// pyNumber reports whether v is an int or a float in Python's sense (bool is not counted),
// with its value as a float.
func pyNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// errTypeError stands for a Python TypeError the original did not catch (an internal error).
type errTypeError string

func (e errTypeError) Error() string { return "TypeError: " + string(e) }

// pyTypeName is type(v).__name__ of a JSON value.
func pyTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case int, int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []any:
		return "list"
	case *Obj:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// lessEqualNow is `value <= now` for a JSON value (bool counts as 0/1); anything else is the
// TypeError Python raises, which panics into an internal error as there.
func lessEqualNow(v any, now float64) bool {
	switch x := v.(type) {
	case bool:
		if x {
			return 1 <= now
		}
		return 0 <= now
	case int64:
		return float64(x) <= now
	case float64:
		return x <= now
	}
	panic(errTypeError(fmt.Sprintf("'<=' not supported between instances of '%s' and 'float'", pyTypeName(v))))
}
