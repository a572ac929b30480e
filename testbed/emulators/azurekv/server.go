package main

// The shared plumbing of emulator_common.py: requests and responses, fault injection,
// request statistics, the admin API under /_emulator/, handle()/dispatch(), and the
// HTTPS server (HTTP/1.1 only, TLS handshakes in their own goroutines).
//
// Logging rule: only method, path (without query) and status are ever logged -- never a
// header value, a request body or a response body, so no secret value can leak.

import (
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// logLine writes one line "YYYY-MM-DDTHH:MM:SS [name] message" on stderr.
func logLine(name, message string) {
	stamp := time.Now().UTC().Format("2006-01-02T15:04:05")
	os.Stderr.WriteString(stamp + " [" + name + "] " + message + "\n")
}

// logWriter feeds net/http's own error log (protocol errors) through logLine.
type logWriter struct{ name string }

func (l logWriter) Write(p []byte) (int, error) {
	msg, _, _ := strings.Cut(strings.TrimRight(string(p), "\n"), "\n")
	if len(msg) > 200 {
		msg = msg[:200]
	}
	logLine(l.name, msg)
	return len(p), nil
}

// ---------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------

// atomicWrite is emulator_common.atomic_write: a temp file in the same directory, chmod, rename.
func atomicWrite(path string, data []byte, mode os.FileMode) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o777); err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp.%d.%d", path, os.Getpid(), time.Now().UnixNano())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(tmp, mode)
	}
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
	}
	return werr
}

// loadOrCreateSecret is emulator_common.load_or_create_secret: an HMAC key, persisted as
// base64url text so a restart keeps tokens valid.
func loadOrCreateSecret(path string, size int) ([]byte, error) {
	if path != "" {
		if data, err := os.ReadFile(path); err == nil {
			if text := bytesStrip(data); len(text) > 0 {
				if !isASCII(string(text)) {
					return nil, fmt.Errorf("%s: not base64url text", path)
				}
				key, err := b64urlDecode(string(text))
				if err != nil {
					return nil, fmt.Errorf("%s: %v", path, err)
				}
				return key, nil
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	key := make([]byte, size)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if path != "" {
		if err := atomicWrite(path, []byte(b64url(key)+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	return key, nil
}

// writeReadyFile is emulator_common.write_ready_file.
func writeReadyFile(path string, info *Obj) error {
	if path == "" {
		return nil
	}
	return atomicWrite(path, append(dumps(info, styleIndent), '\n'), 0o644)
}

// ---------------------------------------------------------------------------------------
// Requests, responses, routes
// ---------------------------------------------------------------------------------------

type request struct {
	method   string
	rawPath  string   // the path as sent (percent-encoded), without the query
	path     string   // rawPath percent-decoded
	segments []string // rawPath split on "/", then each part percent-decoded
	query    query
	headers  http.Header
	body     []byte
	host     string
	proto    string // "HTTP/1.1" or "HTTP/2.0", for the request log
}

// q is Request.q: the last value of a query parameter.
func (r *request) q(name string) (string, bool) { return r.query.last(name) }

// header is Request.header: the first value, as Python decodes it (ISO-8859-1).
func (r *request) header(name string) string { return latin1(r.headers.Get(name)) }

// jsonBody is Request.json(): nil for an empty body.
func (r *request) jsonBody() (any, error) {
	if len(r.body) == 0 {
		return nil, nil
	}
	return loads(r.body)
}

type header struct{ key, value string }

type response struct {
	status  int
	body    []byte
	headers []header // case-sensitive keys, in order, as a Python dict
}

const defaultContentType = "application/json; charset=UTF-8"

// newResponse is emulator_common.Response: body nil is an empty body, anything else is
// json.dumps(body, indent=2) + "\n".
func newResponse(status int, body any, headers []header, contentType string) *response {
	r := &response{status: status, headers: slices.Clone(headers)}
	if body != nil {
		r.body = append(dumps(body, styleIndent), '\n')
	}
	if len(r.body) > 0 || (status != 204 && status != 304) {
		r.setDefault("Content-Type", contentType)
	}
	return r
}

func jsonResponse(status int, body any) *response {
	return newResponse(status, body, nil, defaultContentType)
}

func (r *response) set(key, value string) {
	for i := range r.headers {
		if r.headers[i].key == key {
			r.headers[i].value = value
			return
		}
	}
	r.headers = append(r.headers, header{key, value})
}

func (r *response) setDefault(key, value string) {
	for _, h := range r.headers {
		if h.key == key {
			return
		}
	}
	r.headers = append(r.headers, header{key, value})
}

// route is what the app decided about a request before it runs.
type route struct {
	op    string
	run   func() *response
	tags  []string // op and the extra tags
	write bool
	auth  bool
}

func newRoute(op string, run func() *response, write, auth bool, tags ...string) *route {
	return &route{op: op, run: run, tags: append([]string{op}, tags...), write: write, auth: auth}
}

// app is what each emulator implements (emulator_common.App).
type app interface {
	name() string
	// route returns either a route or a direct response (an unknown path).
	route(req *request) (*route, *response)
	authenticate(req *request, rt *route) *response
	faultResponse(kind string, spec *Obj, req *request, rt *route) *response
	resetData()
	internalError() *response
	extraHeaders(req *request) []header
	describe() []any // key, value pairs for /_emulator/healthz
}

// ---------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------

var faultKinds = []string{"throttle", "deny", "errors_5xx"}

// throttleHints: how a throttle states its delay (see emulator_common.THROTTLE_HINTS).
var throttleHints = []string{"header", "retry_info", "ms", "x-ms", "http-date"}

type faultError string

func (e faultError) Error() string { return string(e) }

// faults is emulator_common.Faults, set through POST /_emulator/faults.
type faults struct {
	mu             sync.Mutex
	defaultLatency int64
	latency        any // int64 (the default, after a reset) or float64 (as configured)
	specs          map[string]*Obj
	injected       map[string]int64
}

func newFaults(latencyMS int64) *faults {
	f := &faults{defaultLatency: latencyMS}
	f.reset()
	return f
}

func (f *faults) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = f.defaultLatency
	f.specs = map[string]*Obj{}
	f.injected = map[string]int64{}
}

func sortedKeysNotIn(o *Obj, allowed ...string) []string {
	var out []string
	for _, k := range o.Keys() {
		if !slices.Contains(allowed, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func (f *faults) configure(spec any) (*Obj, error) {
	o, ok := spec.(*Obj)
	if !ok {
		return nil, faultError("fault spec must be a JSON object")
	}
	if unknown := sortedKeysNotIn(o, append([]string{"latency_ms"}, faultKinds...)...); len(unknown) > 0 {
		return nil, faultError("unknown fault keys: " + pyRepr(unknown))
	}
	latency := o.GetOr("latency_ms", int64(0))
	if !truthy(latency) {
		latency = int64(0)
	}
	lat, isNum := pyNumber(latency)
	if !isNum || lat < 0 {
		return nil, faultError("latency_ms must be a non-negative number")
	}
	specs := map[string]*Obj{}
	for _, kind := range faultKinds {
		raw := o.GetOr(kind, nil)
		if raw == nil {
			continue
		}
		ro, ok := raw.(*Obj)
		if !ok {
			return nil, faultError(kind + " must be an object or null")
		}
		allowed := []string{"count", "ops"}
		switch kind {
		case "throttle":
			allowed = append(allowed, "retry_after", "hint")
		case "errors_5xx":
			allowed = append(allowed, "status")
		}
		if extra := sortedKeysNotIn(ro, allowed...); len(extra) > 0 {
			return nil, faultError("unknown keys in " + kind + ": " + pyRepr(extra))
		}
		parsed := NewObj()
		switch c := ro.GetOr("count", nil).(type) {
		case nil:
			parsed.Set("count", nil)
		case int64:
			if c < 0 {
				return nil, faultError(kind + ".count must be a non-negative integer or null")
			}
			parsed.Set("count", c)
		default:
			return nil, faultError(kind + ".count must be a non-negative integer or null")
		}
		switch ops := ro.GetOr("ops", nil).(type) {
		case nil:
			parsed.Set("ops", nil)
		case []any:
			for _, op := range ops {
				if _, ok := op.(string); !ok {
					return nil, faultError(kind + ".ops must be a list of operation names")
				}
			}
			parsed.Set("ops", slices.Clone(ops))
		default:
			return nil, faultError(kind + ".ops must be a list of operation names")
		}
		if kind == "throttle" {
			ra := ro.GetOr("retry_after", int64(1))
			if n, ok := pyNumber(ra); !ok || n < 0 {
				return nil, faultError("throttle.retry_after must be a non-negative number")
			}
			parsed.Set("retry_after", ra)
			hint, ok := ro.GetOr("hint", "header").(string)
			if !ok || !slices.Contains(throttleHints, hint) {
				return nil, faultError("throttle.hint must be one of " + pyRepr(throttleHints))
			}
			parsed.Set("hint", hint)
		}
		if kind == "errors_5xx" {
			status := ro.GetOr("status", int64(503))
			n, ok := pyNumber(status)
			if !ok || (n != 500 && n != 502 && n != 503 && n != 504) {
				return nil, faultError("errors_5xx.status must be 500, 502, 503 or 504")
			}
			parsed.Set("status", status)
		}
		if c, ok := parsed.GetOr("count", nil).(int64); ok && c == 0 {
			continue
		}
		specs[kind] = parsed
	}
	f.mu.Lock()
	f.latency = lat
	f.specs = specs
	f.mu.Unlock()
	return f.snapshot(), nil
}

func (f *faults) snapshot() *Obj {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := NewObj("latency_ms", f.latency)
	for _, kind := range faultKinds {
		if spec, ok := f.specs[kind]; ok {
			out.Set(kind, spec.Copy())
		} else {
			out.Set(kind, nil)
		}
	}
	injected := NewObj()
	for _, kind := range faultKinds {
		injected.Set(kind, f.injected[kind])
	}
	out.Set("injected", injected)
	return out
}

// currentLatency is the injected latency in milliseconds.
func (f *faults) currentLatency() float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, _ := pyNumber(f.latency)
	return n
}

// take consumes one unit of fault kind if it applies to a request with these tags.
func (f *faults) take(kind string, tags []string) *Obj {
	f.mu.Lock()
	defer f.mu.Unlock()
	spec, ok := f.specs[kind]
	if !ok {
		return nil
	}
	if ops, _ := spec.GetOr("ops", nil).([]any); ops == nil {
		if slices.Contains(tags, "token") || slices.Contains(tags, "discovery") {
			return nil
		}
	} else if !slices.ContainsFunc(ops, func(op any) bool { return slices.Contains(tags, op.(string)) }) {
		return nil
	}
	if c, ok := spec.GetOr("count", nil).(int64); ok {
		spec.Set("count", c-1)
		if c-1 <= 0 {
			delete(f.specs, kind)
		}
	}
	f.injected[kind]++
	return spec.Copy()
}

// ---------------------------------------------------------------------------------------
// Statistics
// ---------------------------------------------------------------------------------------

// logLimit is how many requests /_emulator/requests keeps.
const logLimit = 2000

// counter is an insertion-ordered map of counts (a Python dict of ints).
type counter struct {
	keys []string
	n    map[string]int64
}

func (c *counter) add(k string) {
	if c.n == nil {
		c.n = map[string]int64{}
	}
	if _, ok := c.n[k]; !ok {
		c.keys = append(c.keys, k)
	}
	c.n[k]++
}

func (c *counter) obj() *Obj {
	o := NewObj()
	for _, k := range c.keys {
		o.Set(k, c.n[k])
	}
	return o
}

type logEntry struct {
	seq    int64
	time   float64
	op     string
	method string
	path   string
	status int
	proto  string
}

// stats is emulator_common.Stats: per-operation counters and the request log.
type stats struct {
	mu       sync.Mutex
	total    int64
	counts   counter
	ok       counter
	statuses map[string]*counter
	order    []string // ops in the order statuses saw them
	writes   int64
	log      []logEntry
	seq      int64
}

func newStats() *stats {
	s := &stats{}
	s.reset()
	return s
}

func (s *stats) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total, s.writes, s.seq = 0, 0, 0
	s.counts, s.ok = counter{}, counter{}
	s.statuses, s.order = map[string]*counter{}, nil
	s.log = nil
}

func (s *stats) record(op, method, path, proto string, status int, write bool) {
	now := float64(time.Now().UnixNano()) / 1e9
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	s.counts.add(op)
	per, ok := s.statuses[op]
	if !ok {
		per = &counter{}
		s.statuses[op] = per
		s.order = append(s.order, op)
	}
	per.add(strconv.Itoa(status))
	if status >= 200 && status < 300 {
		s.ok.add(op)
		if write {
			s.writes++
		}
	}
	s.seq++
	s.log = append(s.log, logEntry{seq: s.seq, time: now, op: op, method: method, path: path, status: status,
		proto: proto})
	if len(s.log) > logLimit {
		s.log = append([]logEntry(nil), s.log[len(s.log)-logLimit:]...)
	}
}

func (s *stats) snapshot() *Obj {
	s.mu.Lock()
	defer s.mu.Unlock()
	statuses := NewObj()
	for _, op := range s.order {
		statuses.Set(op, s.statuses[op].obj())
	}
	return NewObj("total", s.total, "writes", s.writes, "counts", s.counts.obj(), "ok", s.ok.obj(),
		"statuses", statuses)
}

func (s *stats) requests(since int64) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []any{}
	for _, e := range s.log {
		if e.seq > since {
			out = append(out, NewObj("seq", e.seq, "time", e.time, "op", e.op, "method", e.method,
				"path", e.path, "status", e.status, "proto", e.proto))
		}
	}
	return out
}

// ---------------------------------------------------------------------------------------
// The server: admin API, handle(), dispatch(), HTTP plumbing
// ---------------------------------------------------------------------------------------

type server struct {
	app    app
	faults *faults
	stats  *stats
	port   int // the listening port (for a request without Host)
}

func errorBody(msg string) *Obj { return NewObj("error", msg) }

// admin is the control API under /_emulator/ (no auth, never delayed, not counted).
func (s *server) admin(req *request) *response {
	path := strings.TrimRight(req.path, "/")
	method := req.method
	bad := func(err error) *response { return jsonResponse(400, errorBody(err.Error())) }
	switch {
	case path == "/_emulator/healthz" && method == "GET":
		body := NewObj("status", "ok", "emulator", s.app.name())
		desc := s.app.describe()
		for i := 0; i+1 < len(desc); i += 2 {
			body.Set(desc[i].(string), desc[i+1])
		}
		return jsonResponse(200, body)
	case path == "/_emulator/stats" && method == "GET":
		return jsonResponse(200, s.stats.snapshot())
	case path == "/_emulator/stats/reset" && method == "POST":
		s.stats.reset()
		return jsonResponse(200, s.stats.snapshot())
	case path == "/_emulator/requests" && method == "GET":
		raw, _ := req.q("since")
		var since int64
		if raw != "" {
			n, err := pyInt(raw)
			if err != nil {
				return bad(errors.New(intLiteralError(raw)))
			}
			since = n
		}
		return jsonResponse(200, NewObj("requests", s.stats.requests(since)))
	case path == "/_emulator/faults" && method == "GET":
		return jsonResponse(200, s.faults.snapshot())
	case path == "/_emulator/faults" && method == "POST":
		spec, err := req.jsonBody()
		if err != nil {
			return bad(err)
		}
		if !truthy(spec) {
			spec = NewObj()
		}
		snap, err := s.faults.configure(spec)
		if err != nil {
			return bad(err)
		}
		return jsonResponse(200, snap)
	case path == "/_emulator/faults" && method == "DELETE":
		s.faults.reset()
		return jsonResponse(200, s.faults.snapshot())
	case path == "/_emulator/reset" && method == "POST":
		raw, err := req.jsonBody()
		if err != nil {
			return bad(err)
		}
		if !truthy(raw) {
			raw = NewObj()
		}
		opts, ok := raw.(*Obj)
		if !ok {
			return bad(faultError("reset options must be a JSON object"))
		}
		if truthy(opts.GetOr("data", true)) {
			s.app.resetData()
		}
		if truthy(opts.GetOr("faults", true)) {
			s.faults.reset()
		}
		if truthy(opts.GetOr("stats", true)) {
			s.stats.reset()
		}
		return jsonResponse(200, NewObj("reset", true))
	}
	return jsonResponse(404, errorBody(fmt.Sprintf("no admin endpoint %s %s", method, path)))
}

// handle routes, authenticates, injects faults, runs, records and logs one request.
func (s *server) handle(req *request) *response {
	started := time.Now()
	op, write := "admin", false
	var resp *response
	func() {
		defer func() {
			if p := recover(); p != nil {
				logLine(s.app.name(), fmt.Sprintf("internal error:\n%v\n%s", p, debug.Stack()))
				resp = s.app.internalError()
			}
		}()
		if strings.HasPrefix(req.path, "/_emulator/") || req.path == "/_emulator" {
			resp = s.admin(req)
			return
		}
		rt, direct := s.app.route(req)
		if direct != nil {
			op, resp = "unknown", direct
			return
		}
		op, write = rt.op, rt.write
		resp = s.dispatch(req, rt)
	}()
	if op != "admin" {
		s.stats.record(op, req.method, req.rawPath, req.proto, resp.status, write)
	}
	elapsed := float64(time.Since(started)) / float64(time.Millisecond)
	logLine(s.app.name(), fmt.Sprintf("%s %s -> %d (%s, %.0f ms)", req.method, req.rawPath, resp.status, op, elapsed))
	return resp
}

// dispatch: latency first (no lock held), then authentication, then throttle, 5xx, deny.
func (s *server) dispatch(req *request, rt *route) *response {
	if latency := s.faults.currentLatency(); latency > 0 {
		time.Sleep(time.Duration(latency * float64(time.Millisecond)))
	}
	if rt.auth {
		if denied := s.app.authenticate(req, rt); denied != nil {
			return denied
		}
	}
	for _, kind := range []string{"throttle", "errors_5xx", "deny"} {
		if spec := s.faults.take(kind, rt.tags); spec != nil {
			return s.app.faultResponse(kind, spec, req, rt)
		}
	}
	return rt.run()
}

const maxBody = 32 * 1024 * 1024

// Python's http.server error page (send_error), for methods it has no handler for.
const errorPage = `<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %d</p>
        <p>Message: %s.</p>
        <p>Error code explanation: %d - %s.</p>
    </body>
</html>
`

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD":
	default:
		msg := fmt.Sprintf("Unsupported method (%s)", pyStrRepr(latin1(r.Method)))
		logLine(s.app.name(), "http: code 501, message "+msg)
		body := fmt.Sprintf(errorPage, 501, htmlEscape(msg), 501, "Server does not support this operation")
		s.write(w, r, &response{status: 501, body: []byte(body), headers: []header{
			{"Connection", "close"}, {"Content-Type", "text/html;charset=utf-8"}}}, nil)
		return
	}
	if r.ContentLength > maxBody {
		resp := jsonResponse(400, errorBody("bad request body"))
		resp.set("Connection", "close")
		s.write(w, r, resp, nil)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		// Python's server drops such a connection without an answer.
		logLine(s.app.name(), "connection error: "+err.Error())
		panic(http.ErrAbortHandler)
	}
	req := s.newRequest(r, body)
	s.write(w, r, s.handle(req), req)
}

// htmlEscape is html.escape(s, quote=False).
func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func (s *server) newRequest(r *http.Request, body []byte) *request {
	target := latin1(r.RequestURI)
	if strings.HasPrefix(target, "//") { // as http.server does (gh-87389)
		target = "/" + strings.TrimLeft(target, "/")
	}
	rawPath, rawQuery := urlsplitPathQuery(target)
	parts := strings.Split(rawPath, "/")[1:]
	segments := make([]string, len(parts))
	for i, p := range parts {
		segments[i] = unquote(p)
	}
	host := latin1(r.Host)
	if host == "" {
		host = fmt.Sprintf("127.0.0.1:%d", s.port)
	}
	return &request{
		method: r.Method, rawPath: rawPath, path: unquote(rawPath), segments: segments,
		query: parseQS(rawQuery), headers: r.Header, body: body, host: host, proto: r.Proto,
	}
}

// encodeLatin1 turns a header value back into the bytes Python's send_header writes.
func encodeLatin1(s string) string {
	if isASCII(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		b = append(b, byte(r))
	}
	return string(b)
}

func (s *server) write(w http.ResponseWriter, r *http.Request, resp *response, req *request) {
	headers := slices.Clone(resp.headers)
	out := &response{headers: headers}
	if req != nil {
		for _, h := range s.app.extraHeaders(req) {
			out.setDefault(h.key, h.value)
		}
	}
	out.set("Content-Length", strconv.Itoa(len(resp.body)))
	wh := w.Header()
	wh["Server"] = []string{"caracal-emulator"}
	for _, h := range out.headers {
		wh[h.key] = []string{encodeLatin1(h.value)} // keys as written (Python keeps their case)
	}
	w.WriteHeader(resp.status)
	if len(resp.body) > 0 && r.Method != "HEAD" {
		w.Write(resp.body)
	}
}

// ---------------------------------------------------------------------------------------
// TLS listener: every handshake in its own goroutine, 30 s to complete
// ---------------------------------------------------------------------------------------

const handshakeTimeout = 30 * time.Second

type tlsListener struct {
	inner net.Listener
	cfg   *tls.Config
	name  string
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newTLSListener(inner net.Listener, cfg *tls.Config, name string) *tlsListener {
	l := &tlsListener{inner: inner, cfg: cfg, name: name, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				l.Close()
				return
			}
			logLine(l.name, "accept failed: "+err.Error())
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go l.handshake(c)
	}
}

func (l *tlsListener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg)
	c.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.Handshake(); err != nil {
		logLine(l.name, "TLS handshake failed: "+err.Error())
		c.Close()
		return
	}
	c.SetDeadline(time.Time{})
	select {
	case l.conns <- tc:
	case <-l.done:
		tc.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// newHTTPServer serves HTTP/2 (by ALPN) and HTTP/1.1, keep-alive on, idle connections closed
// after 300 s (longer than reqwest's 90 s pool idle timeout, so the client retires idle
// connections).
func newHTTPServer(s *server) *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 300 * time.Second,
		IdleTimeout:       300 * time.Second,
		ErrorLog:          newErrorLog(s.app.name()),
	}
}

func newErrorLog(name string) *log.Logger { return log.New(logWriter{name}, "", 0) }
