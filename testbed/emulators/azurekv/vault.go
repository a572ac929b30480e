package main

// The Key Vault secrets API: routing, validation, the data model, soft delete, backup.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	emulatorName     = "azure-kv"
	vaultResource    = "https://vault.azure.net"
	vaultAppID       = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"
	latestAPIVersion = "2025-07-01"
	maxValueBytes    = 25 * 1024
	maxResults       = 25
	kvContentType    = "application/json; charset=utf-8"
)

var knownAPIVersions = []string{"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6",
	"7.6-preview.2", "2025-06-01-preview", "2025-07-01"}

// The Python patterns end in "$", which also matches before a final newline; \d there is any
// Unicode decimal digit.
var (
	apiVersionRE = regexp.MustCompile(`^(?:7\.\p{Nd}+(?:-preview(?:\.\p{Nd}+)?)?|20\p{Nd}\p{Nd}-\p{Nd}\p{Nd}-\p{Nd}\p{Nd}(?:-preview)?)\n?$`)
	nameRE       = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}\n?$`)
	tenantRE     = regexp.MustCompile(`^[0-9A-Za-z.-]{1,64}\n?$`)
)

var rbacActions = map[string]string{
	"set":           "Microsoft.KeyVault/vaults/secrets/setSecret/action",
	"get":           "Microsoft.KeyVault/vaults/secrets/getSecret/action",
	"list":          "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
	"list_versions": "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
	"update":        "Microsoft.KeyVault/vaults/secrets/update/action",
	"delete":        "Microsoft.KeyVault/vaults/secrets/delete",
	"backup":        "Microsoft.KeyVault/vaults/secrets/backup/action",
	"restore":       "Microsoft.KeyVault/vaults/secrets/restore/action",
	"list_deleted":  "Microsoft.KeyVault/vaults/deletedSecrets/read",
	"get_deleted":   "Microsoft.KeyVault/vaults/deletedSecrets/read",
	"recover":       "Microsoft.KeyVault/vaults/deletedSecrets/recover/action",
	"purge":         "Microsoft.KeyVault/vaults/deletedSecrets/delete",
}

// kvError is a Key Vault error answer.
type kvError struct {
	status  int
	code    string
	message string
	inner   string
	headers []header
}

func (e *kvError) Error() string { return e.message }

func (e *kvError) response() *response {
	return kvErrorResponse(e.status, e.code, e.message, e.inner, e.headers)
}

func kvErrorResponse(status int, code, message, inner string, headers []header) *response {
	err := NewObj("code", code, "message", message)
	if inner != "" {
		err.Set("innererror", NewObj("code", inner))
	}
	return newResponse(status, NewObj("error", err), headers, kvContentType)
}

func notFound(ident string) *kvError {
	return &kvError{status: 404, code: "SecretNotFound", message: "A secret with (name/id) " + ident +
		" was not found in this key vault. If you recently deleted this secret you may be able to " +
		"recover it using the correct recovery command. For help resolving this issue, please see " +
		"https://go.microsoft.com/fwlink/?linkid=2125182"}
}

func deletedNotFound(name string) *kvError {
	return &kvError{status: 404, code: "SecretNotFound", message: "Deleted Secret not found: " + name}
}

func badParameter(message string) *kvError {
	return &kvError{status: 400, code: "BadParameter", message: message}
}

// ---------------------------------------------------------------------------------------
// Data model
// ---------------------------------------------------------------------------------------

type kvVersion struct {
	version     string
	value       string
	contentType *string
	tags        *Obj // nil: none
	enabled     bool
	nbf, exp    *int64
	created     int64
	updated     int64
}

type kvSecret struct {
	name               string // as first created (names are case-insensitive)
	order              []string
	versions           map[string]*kvVersion
	deletedDate        *int64
	scheduledPurgeDate *int64
}

func newSecret(name string) *kvSecret {
	return &kvSecret{name: name, versions: map[string]*kvVersion{}}
}

func (s *kvSecret) add(v *kvVersion) {
	if _, ok := s.versions[v.version]; !ok {
		s.order = append(s.order, v.version)
	}
	s.versions[v.version] = v
}

func (s *kvSecret) latest() *kvVersion { return s.versions[s.order[len(s.order)-1]] }

func ptr[T any](v T) *T { return &v }

// attributes is what a request's "attributes" object sets.
type attributes struct {
	enabled        *bool
	hasNbf, hasExp bool
	nbf, exp       *int64
}

// unixTime is int() of a JSON number.
func unixTime(v any, key string) (*int64, *kvError) {
	switch x := v.(type) {
	case int64:
		return &x, nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			panic(fmt.Sprintf("cannot convert float %v to integer", x))
		}
		t := math.Trunc(x)
		if t < math.MinInt64 || t >= math.MaxInt64 {
			break
		}
		n := int64(t)
		return &n, nil
	}
	return nil, badParameter(fmt.Sprintf("Invalid attributes.%s: a Unix time in seconds is required.", key))
}

func parseAttributes(raw any, where string) (attributes, *kvError) {
	var out attributes
	if raw == nil {
		return out, nil
	}
	o, ok := raw.(*Obj)
	if !ok {
		return out, badParameter(fmt.Sprintf("Invalid %s: attributes must be an object.", where))
	}
	for _, key := range o.Keys() {
		value, _ := o.Get(key)
		switch key {
		case "enabled":
			if value == nil {
				continue
			}
			b, ok := value.(bool)
			if !ok {
				return out, badParameter("Invalid attributes.enabled: a boolean is required.")
			}
			out.enabled = &b
		case "nbf", "exp":
			var t *int64
			if value != nil {
				var err *kvError
				if t, err = unixTime(value, key); err != nil {
					return out, err
				}
			}
			if key == "nbf" {
				out.hasNbf, out.nbf = true, t
			} else {
				out.hasExp, out.exp = true, t
			}
		case "created", "updated", "recoveryLevel", "recoverableDays":
			// read-only, ignored as the service does
		default:
			return out, badParameter(fmt.Sprintf("Invalid %s: unknown attribute '%s'.", where, key))
		}
	}
	return out, nil
}

func parseTags(raw any) (*Obj, *kvError) {
	if raw == nil {
		return nil, nil
	}
	o, ok := raw.(*Obj)
	if !ok {
		return nil, badParameter("Invalid tags: an object of string values is required.")
	}
	if o.Len() > 15 {
		return nil, badParameter(fmt.Sprintf("Too many tags: %d. A secret can have at most 15 tags.", o.Len()))
	}
	for _, k := range o.Keys() {
		v, isStr := o.GetOr(k, nil).(string)
		if !isStr {
			return nil, badParameter(fmt.Sprintf("Invalid value for tag '%s': a string is required.", k))
		}
		if runeLen(k) > 512 || runeLen(v) > 256 {
			return nil, badParameter(fmt.Sprintf("Tag '%s' is too long: names are limited to 512 characters "+
				"and values to 256 characters.", runePrefix(k, 40)))
		}
	}
	return o.Copy(), nil
}

// contentTypeOf validates a contentType value (nil: none).
func contentTypeOf(v any) (*string, *kvError) {
	if v == nil {
		return nil, nil
	}
	s, ok := v.(string)
	if !ok || runeLen(s) > 255 {
		return nil, badParameter("Invalid contentType: a string of at most 255 characters is required.")
	}
	return &s, nil
}

// ---------------------------------------------------------------------------------------
// The application
// ---------------------------------------------------------------------------------------

type kvApp struct {
	tenantID        string
	clientID        string
	federated       map[string]bool // workload identities: sign in only with a client assertion
	clientSecret    string
	tokenKey        []byte
	kid             string
	tokenLifetime   int64
	recoverableDays int64
	purgeProtection bool
	vaultName       string
	oid             string

	mu      sync.Mutex
	secrets map[string]*kvSecret // by lower-case name
	deleted map[string]*kvSecret
}

func (a *kvApp) name() string { return emulatorName }

func (a *kvApp) recoveryLevel() string {
	if a.purgeProtection {
		return "Recoverable"
	}
	return "Recoverable+Purgeable"
}

func (a *kvApp) describe() []any {
	return []any{"tenant_id", a.tenantID, "vault_name", a.vaultName}
}

func (a *kvApp) resetData() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.secrets = map[string]*kvSecret{}
	a.deleted = map[string]*kvSecret{}
}

func (a *kvApp) internalError() *response {
	return kvErrorResponse(500, "InternalServerError", "An internal server error occurred.", "", nil)
}

func (a *kvApp) extraHeaders(req *request) []header {
	h := []header{
		{"Cache-Control", "no-cache"}, {"Pragma", "no-cache"}, {"Expires", "-1"},
		{"x-ms-keyvault-region", "eastus"}, {"x-ms-keyvault-service-version", "1.9.2795.1"},
		{"x-ms-keyvault-network-info", "conn_type=Ipv4;addr=127.0.0.1;act_addr_fam=InterNetwork;"},
		{"x-ms-request-id", uuid4()},
		{"Strict-Transport-Security", "max-age=31536000;includeSubDomains"},
		{"X-Content-Type-Options", "nosniff"},
	}
	if id := req.header("x-ms-client-request-id"); id != "" {
		h = append(h, header{"x-ms-client-request-id", id})
	}
	return h
}

// -- JSON shapes ---------------------------------------------------------------------

func (a *kvApp) attributes(v *kvVersion) *Obj {
	out := NewObj("enabled", v.enabled)
	if v.nbf != nil {
		out.Set("nbf", *v.nbf)
	}
	if v.exp != nil {
		out.Set("exp", *v.exp)
	}
	out.Set("created", v.created)
	out.Set("updated", v.updated)
	out.Set("recoveryLevel", a.recoveryLevel())
	out.Set("recoverableDays", a.recoverableDays)
	return out
}

func (a *kvApp) bundle(base string, s *kvSecret, v *kvVersion, withValue bool) *Obj {
	out := NewObj()
	if withValue {
		out.Set("value", v.value)
	}
	if v.contentType != nil {
		out.Set("contentType", *v.contentType)
	}
	out.Set("id", base+"/secrets/"+s.name+"/"+v.version)
	out.Set("attributes", a.attributes(v))
	if v.tags != nil {
		out.Set("tags", v.tags.Copy())
	}
	return out
}

func (a *kvApp) item(base string, s *kvSecret, v *kvVersion, withVersion bool) *Obj {
	id := base + "/secrets/" + s.name
	if withVersion {
		id += "/" + v.version
	}
	out := NewObj("id", id, "attributes", a.attributes(v))
	if v.tags != nil {
		out.Set("tags", v.tags.Copy())
	}
	if v.contentType != nil {
		out.Set("contentType", *v.contentType)
	}
	return out
}

func optInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func (a *kvApp) deletedFields(base string, s *kvSecret) *Obj {
	return NewObj("recoveryId", base+"/deletedsecrets/"+s.name,
		"deletedDate", optInt(s.deletedDate), "scheduledPurgeDate", optInt(s.scheduledPurgeDate))
}

func (a *kvApp) deletedBundle(base string, s *kvSecret) *Obj {
	out := a.deletedFields(base, s)
	out.Update(a.bundle(base, s, s.latest(), false))
	return out
}

func (a *kvApp) deletedItem(base string, s *kvSecret) *Obj {
	out := a.deletedFields(base, s)
	out.Update(a.item(base, s, s.latest(), false))
	return out
}

// -- routing -------------------------------------------------------------------------

type vaultFn func(base string) (*response, *kvError)

func (a *kvApp) route(req *request) (*route, *response) {
	segs := req.segments
	trailing := false
	if len(segs) > 1 && segs[len(segs)-1] == "" {
		trailing = true
		segs = segs[:len(segs)-1]
	}
	m := req.method

	// identity endpoints
	if len(segs) == 4 && slices.Equal(segs[1:], []string{"oauth2", "v2.0", "token"}) && m == "POST" {
		tenant := segs[0]
		return newRoute("token", func() *response { return a.token(req, tenant) }, false, false), nil
	}
	if len(segs) >= 3 && slices.Equal(segs[len(segs)-2:], []string{".well-known", "openid-configuration"}) &&
		m == "GET" && segs[0] != "secrets" {
		tenant := segs[0]
		return newRoute("discovery", func() *response { return a.openidConfiguration(req, tenant) }, false, false), nil
	}
	if slices.Equal(segs, []string{"common", "discovery", "instance"}) && m == "GET" {
		return newRoute("discovery", func() *response { return a.instanceDiscovery(req) }, false, false), nil
	}

	mk := func(op string, fn vaultFn, write bool, tags ...string) *route {
		run := func() *response {
			if err := checkAPIVersion(req); err != nil {
				return err.response()
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			a.purgeExpired()
			resp, err := fn("https://" + req.host)
			if err != nil {
				return err.response()
			}
			return resp
		}
		return newRoute(op, run, write, true, tags...)
	}
	guarded := func(op, name string, fn vaultFn, write bool, tags ...string) *route {
		return mk(op, func(base string) (*response, *kvError) {
			if !nameRE.MatchString(name) {
				return nil, badParameter("The request URI contains an invalid name: " + name)
			}
			return fn(base)
		}, write, tags...)
	}

	if len(segs) > 0 && segs[0] == "secrets" {
		if len(segs) == 1 && m == "GET" {
			return mk("list", func(base string) (*response, *kvError) { return a.list(req, base) }, false), nil
		}
		if len(segs) == 2 && segs[1] == "restore" && m == "POST" {
			return mk("restore", func(base string) (*response, *kvError) { return a.restore(req, base) }, true), nil
		}
		if len(segs) == 2 {
			name := segs[1]
			switch {
			case m == "PUT" && !trailing:
				a.mu.Lock()
				_, exists := a.secrets[strings.ToLower(name)]
				a.mu.Unlock()
				tag := "create"
				if exists {
					tag = "add_version"
				}
				return guarded("set", name, func(base string) (*response, *kvError) { return a.set(req, base, name) },
					true, tag), nil
			case m == "GET":
				return guarded("get", name, func(base string) (*response, *kvError) { return a.get(base, name, "") },
					false, "access"), nil
			case m == "PATCH":
				return guarded("update", name, func(base string) (*response, *kvError) { return a.update(req, base, name, "") },
					true), nil
			case m == "DELETE" && !trailing:
				return guarded("delete", name, func(base string) (*response, *kvError) { return a.delete(base, name) },
					true), nil
			}
		}
		if len(segs) == 3 {
			name, third := segs[1], segs[2]
			switch {
			case third == "versions" && m == "GET":
				return guarded("list_versions", name, func(base string) (*response, *kvError) {
					return a.listVersions(req, base, name)
				}, false), nil
			case third == "backup" && m == "POST":
				return guarded("backup", name, func(base string) (*response, *kvError) { return a.backup(base, name) },
					false), nil
			case m == "GET":
				return guarded("get", name, func(base string) (*response, *kvError) { return a.get(base, name, third) },
					false, "access"), nil
			case m == "PATCH":
				return guarded("update", name, func(base string) (*response, *kvError) {
					return a.update(req, base, name, third)
				}, true), nil
			}
		}
	}
	if len(segs) > 0 && segs[0] == "deletedsecrets" {
		if len(segs) == 1 && m == "GET" {
			return mk("list_deleted", func(base string) (*response, *kvError) { return a.listDeleted(req, base) }, false), nil
		}
		if len(segs) == 2 {
			name := segs[1]
			if m == "GET" {
				return guarded("get_deleted", name, func(base string) (*response, *kvError) { return a.getDeleted(base, name) },
					false), nil
			}
			if m == "DELETE" {
				return guarded("purge", name, func(base string) (*response, *kvError) { return a.purge(name) }, true), nil
			}
		}
		if len(segs) == 3 && segs[2] == "recover" && m == "POST" {
			name := segs[1]
			return guarded("recover", name, func(base string) (*response, *kvError) { return a.recover(base, name) },
				true), nil
		}
	}
	return nil, kvErrorResponse(404, "NotFound", fmt.Sprintf("The requested URI %s with method %s does "+
		"not exist in this key vault.", req.rawPath, m), "", nil)
}

func checkAPIVersion(req *request) *kvError {
	version, _ := req.q("api-version")
	if version == "" {
		return badParameter("The 'api-version' query parameter is missing. Specify a supported " +
			"version, for example api-version=" + latestAPIVersion + ".")
	}
	if !slices.Contains(knownAPIVersions, version) && !apiVersionRE.MatchString(version) {
		return badParameter(fmt.Sprintf("The specified version (%s) is not recognized. Consider "+
			"using the latest supported version (%s).", version, latestAPIVersion))
	}
	return nil
}

// -- helpers -------------------------------------------------------------------------

func (a *kvApp) purgeExpired() {
	now := float64(time.Now().UnixNano()) / 1e9
	for key, s := range a.deleted {
		var when int64
		if s.scheduledPurgeDate != nil {
			when = *s.scheduledPurgeDate
		}
		if float64(when) <= now {
			delete(a.deleted, key)
		}
	}
}

func requestObject(req *request) (*Obj, *kvError) {
	if len(bytesStrip(req.body)) == 0 {
		return nil, badParameter("The request body is missing.")
	}
	data, err := loads(req.body)
	if err != nil {
		return nil, badParameter("The request body is not valid JSON.")
	}
	o, ok := data.(*Obj)
	if !ok {
		return nil, badParameter("The request body must be a JSON object.")
	}
	return o, nil
}

func (a *kvApp) active(name, ident string) (*kvSecret, *kvError) {
	s, ok := a.secrets[strings.ToLower(name)]
	if !ok {
		if ident == "" {
			ident = name
		}
		return nil, notFound(ident)
	}
	return s, nil
}

// quotePlus is urllib.parse.quote_plus(s, safe="$").
func quotePlus(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '_', c == '.', c == '-', c == '~', c == '$':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// nextMarker is int() of a $skiptoken's NextMarker.
func nextMarker(v any) (int64, bool) {
	switch x := v.(type) {
	case string:
		n, err := pyInt(x)
		return n, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	case int64:
		return x, true
	case float64:
		if math.IsNaN(x) {
			return 0, false
		}
		if math.IsInf(x, 0) {
			panic("OverflowError: cannot convert float infinity to integer")
		}
		return int64(math.Trunc(x)), true
	}
	return 0, false
}

func (a *kvApp) page(req *request, items []any, base, path string) (*response, *kvError) {
	size := int64(maxResults)
	if raw, ok := req.q("maxresults"); ok && raw != "" {
		bad := badParameter(fmt.Sprintf("Invalid maxresults value '%s': an integer between 1 and %d is required.",
			raw, maxResults))
		n, err := pyInt(raw)
		if err != nil || n < 1 || n > maxResults {
			return nil, bad
		}
		size = n
	}
	var offset int64
	if token, _ := req.q("$skiptoken"); token != "" {
		bad := badParameter("The $skiptoken is invalid.")
		raw, err := b64urlDecode(token)
		if err != nil {
			return nil, bad
		}
		doc, err := loadsBytes(raw)
		if err != nil {
			return nil, bad
		}
		o, ok := doc.(*Obj)
		if !ok || !o.Has("NextMarker") {
			return nil, bad
		}
		n, ok := nextMarker(o.GetOr("NextMarker", nil))
		if !ok || n < 0 {
			return nil, bad
		}
		offset = n
	}
	total := int64(len(items))
	lo, hi := min(offset, total), total
	more := offset < total && size < total-offset // offset + size < len(items)
	if more {
		hi = offset + size
	}
	chunk := slices.Clone(items[lo:hi])
	var nextLink any
	if more {
		marker := b64url(dumps(NewObj("NextMarker", strconv.FormatInt(offset+size, 10), "TargetLocation", 0), styleDefault))
		version, _ := req.q("api-version")
		query := "api-version=" + quotePlus(version) + "&$skiptoken=" + quotePlus(marker) +
			"&maxresults=" + strconv.FormatInt(size, 10)
		nextLink = base + path + "?" + query
	}
	return jsonResponse(200, NewObj("value", chunk, "nextLink", nextLink)), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// -- vault operations ----------------------------------------------------------------

func (a *kvApp) set(req *request, base, name string) (*response, *kvError) {
	key := strings.ToLower(name)
	if _, ok := a.deleted[key]; ok {
		return nil, &kvError{status: 409, code: "Conflict", message: "Secret " + name + " is currently in a " +
			"deleted but recoverable state, and its name cannot be reused; in this state, the secret can only " +
			"be recovered or purged."}
	}
	data, err := requestObject(req)
	if err != nil {
		return nil, err
	}
	for _, k := range data.Keys() {
		if !slices.Contains([]string{"value", "contentType", "tags", "attributes"}, k) {
			return nil, badParameter(fmt.Sprintf("Invalid request body: unknown property '%s'.", k))
		}
	}
	rawValue := data.GetOr("value", nil)
	if rawValue == nil {
		return nil, badParameter("The secret value is required (property 'value').")
	}
	value, ok := rawValue.(string)
	if !ok {
		return nil, badParameter("Invalid secret value: a string is required.")
	}
	if len(value) > maxValueBytes {
		return nil, badParameter(fmt.Sprintf("The secret value is too large: at most %d bytes are allowed.",
			maxValueBytes))
	}
	contentType, err := contentTypeOf(data.GetOr("contentType", nil))
	if err != nil {
		return nil, err
	}
	tags, err := parseTags(data.GetOr("tags", nil))
	if err != nil {
		return nil, err
	}
	attrs, err := parseAttributes(data.GetOr("attributes", nil), "attributes")
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	secret, ok := a.secrets[key]
	if !ok {
		secret = newSecret(name)
		a.secrets[key] = secret
	}
	v := &kvVersion{version: uuid4Hex(), value: value, contentType: contentType, tags: tags, enabled: true,
		nbf: attrs.nbf, exp: attrs.exp, created: now, updated: now}
	if attrs.enabled != nil {
		v.enabled = *attrs.enabled
	}
	secret.add(v)
	return jsonResponse(200, a.bundle(base, secret, v, true)), nil
}

// version looks up a version of an active secret ("" is the latest).
func (a *kvApp) version(name, version string) (*kvSecret, *kvVersion, *kvError) {
	ident := name
	if version != "" {
		ident = name + "/" + version
	}
	secret, err := a.active(name, ident)
	if err != nil {
		return nil, nil, err
	}
	if version == "" {
		return secret, secret.latest(), nil
	}
	v, ok := secret.versions[strings.ToLower(version)]
	if !ok {
		return nil, nil, notFound(ident)
	}
	return secret, v, nil
}

func (a *kvApp) get(base, name, version string) (*response, *kvError) {
	secret, v, err := a.version(name, version)
	if err != nil {
		return nil, err
	}
	if !v.enabled {
		return nil, &kvError{status: 403, code: "Forbidden", message: "Operation get is not allowed on a disabled secret.",
			inner: "SecretDisabled"}
	}
	return jsonResponse(200, a.bundle(base, secret, v, true)), nil
}

func (a *kvApp) update(req *request, base, name, version string) (*response, *kvError) {
	secret, v, err := a.version(name, version)
	if err != nil {
		return nil, err
	}
	data, err := requestObject(req)
	if err != nil {
		return nil, err
	}
	for _, k := range data.Keys() {
		if !slices.Contains([]string{"contentType", "tags", "attributes"}, k) {
			return nil, badParameter(fmt.Sprintf("Invalid request body: unknown property '%s'.", k))
		}
	}
	attrs, err := parseAttributes(data.GetOr("attributes", nil), "attributes")
	if err != nil {
		return nil, err
	}
	tags := v.tags
	if data.Has("tags") {
		if tags, err = parseTags(data.GetOr("tags", nil)); err != nil {
			return nil, err
		}
	}
	contentType := v.contentType
	if data.Has("contentType") {
		if contentType, err = contentTypeOf(data.GetOr("contentType", nil)); err != nil {
			return nil, err
		}
	}
	v.tags = tags
	v.contentType = contentType
	if attrs.enabled != nil {
		v.enabled = *attrs.enabled
	}
	if attrs.hasNbf {
		v.nbf = attrs.nbf
	}
	if attrs.hasExp {
		v.exp = attrs.exp
	}
	v.updated = time.Now().Unix()
	return jsonResponse(200, a.bundle(base, secret, v, false)), nil
}

func (a *kvApp) delete(base, name string) (*response, *kvError) {
	secret, err := a.active(name, "")
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	key := strings.ToLower(name)
	delete(a.secrets, key)
	secret.deletedDate = ptr(now)
	secret.scheduledPurgeDate = ptr(now + a.recoverableDays*86400)
	a.deleted[key] = secret
	return jsonResponse(200, a.deletedBundle(base, secret)), nil
}

func (a *kvApp) list(req *request, base string) (*response, *kvError) {
	items := []any{}
	for _, k := range sortedKeys(a.secrets) {
		s := a.secrets[k]
		items = append(items, a.item(base, s, s.latest(), false))
	}
	return a.page(req, items, base, "/secrets")
}

func (a *kvApp) listVersions(req *request, base, name string) (*response, *kvError) {
	secret, err := a.active(name, "")
	if err != nil {
		return nil, err
	}
	items := []any{}
	for _, id := range secret.order {
		items = append(items, a.item(base, secret, secret.versions[id], true))
	}
	return a.page(req, items, base, "/secrets/"+secret.name+"/versions")
}

func (a *kvApp) listDeleted(req *request, base string) (*response, *kvError) {
	items := []any{}
	for _, k := range sortedKeys(a.deleted) {
		items = append(items, a.deletedItem(base, a.deleted[k]))
	}
	return a.page(req, items, base, "/deletedsecrets")
}

func (a *kvApp) getDeleted(base, name string) (*response, *kvError) {
	secret, ok := a.deleted[strings.ToLower(name)]
	if !ok {
		return nil, deletedNotFound(name)
	}
	return jsonResponse(200, a.deletedBundle(base, secret)), nil
}

func (a *kvApp) recover(base, name string) (*response, *kvError) {
	key := strings.ToLower(name)
	secret, ok := a.deleted[key]
	if !ok {
		return nil, deletedNotFound(name)
	}
	delete(a.deleted, key)
	secret.deletedDate, secret.scheduledPurgeDate = nil, nil
	a.secrets[key] = secret
	return jsonResponse(200, a.bundle(base, secret, secret.latest(), false)), nil
}

func (a *kvApp) purge(name string) (*response, *kvError) {
	key := strings.ToLower(name)
	if _, ok := a.deleted[key]; !ok {
		return nil, deletedNotFound(name)
	}
	if a.purgeProtection {
		return nil, &kvError{status: 403, code: "Forbidden", message: "Operation \"purge\" is not allowed because " +
			"purge protection is enabled for this vault. Key Vault service will automatically purge it after " +
			"the retention period has passed.\r\nVault: " + a.vaultName + ";location=eastus", inner: "PurgeProtected"}
	}
	delete(a.deleted, key)
	return jsonResponse(204, nil), nil
}

// -- backup and restore: opaque blobs, AES-GCM sealed with a key derived from the token key

const backupMagic = "KVEMU1"

func (a *kvApp) aead() cipher.AEAD {
	key := sha256.Sum256(append([]byte("backup:"), a.tokenKey...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		panic(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

func optString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func optObj(o *Obj) any {
	if o == nil {
		return nil
	}
	return o
}

func (a *kvApp) backup(base, name string) (*response, *kvError) {
	secret, err := a.active(name, "")
	if err != nil {
		return nil, err
	}
	versions := []any{}
	for _, id := range secret.order {
		v := secret.versions[id]
		versions = append(versions, NewObj("version", v.version, "value", v.value,
			"content_type", optString(v.contentType), "tags", optObj(v.tags), "enabled", v.enabled,
			"nbf", optInt(v.nbf), "exp", optInt(v.exp), "created", v.created, "updated", v.updated))
	}
	plain := dumps(NewObj("name", secret.name, "versions", versions), styleDefault)
	nonce := make([]byte, 12)
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	blob := append([]byte(backupMagic), nonce...)
	blob = a.aead().Seal(blob, nonce, plain, []byte("kv-backup"))
	return jsonResponse(200, NewObj("value", b64url(blob))), nil
}

// versionFromBackup is KvVersion(**v) for a version of a backup blob.
func versionFromBackup(raw any) (*kvVersion, bool) {
	o, ok := raw.(*Obj)
	fields := []string{"version", "value", "content_type", "tags", "enabled", "nbf", "exp", "created", "updated"}
	if !ok || o.Len() != len(fields) {
		return nil, false
	}
	for _, f := range fields {
		if !o.Has(f) {
			return nil, false
		}
	}
	v := &kvVersion{}
	var ok1, ok2, ok3, ok4, ok5 bool
	v.version, ok1 = o.GetOr("version", nil).(string)
	v.value, ok2 = o.GetOr("value", nil).(string)
	v.enabled, ok3 = o.GetOr("enabled", nil).(bool)
	v.created, ok4 = o.GetOr("created", nil).(int64)
	v.updated, ok5 = o.GetOr("updated", nil).(int64)
	if !(ok1 && ok2 && ok3 && ok4 && ok5) {
		return nil, false
	}
	switch ct := o.GetOr("content_type", nil).(type) {
	case nil:
	case string:
		v.contentType = &ct
	default:
		return nil, false
	}
	switch tags := o.GetOr("tags", nil).(type) {
	case nil:
	case *Obj:
		v.tags = tags
	default:
		return nil, false
	}
	for _, f := range []string{"nbf", "exp"} {
		switch t := o.GetOr(f, nil).(type) {
		case nil:
		case int64:
			if f == "nbf" {
				v.nbf = ptr(t)
			} else {
				v.exp = ptr(t)
			}
		default:
			return nil, false
		}
	}
	return v, true
}

func (a *kvApp) openBackup(raw string) (string, []*kvVersion, bool) {
	blob, err := b64urlDecode(raw)
	if err != nil || len(blob) < len(backupMagic)+12 || string(blob[:len(backupMagic)]) != backupMagic {
		return "", nil, false
	}
	nonce, sealed := blob[6:18], blob[18:]
	plain, err := a.aead().Open(nil, nonce, sealed, []byte("kv-backup"))
	if err != nil {
		return "", nil, false
	}
	doc, err := loadsBytes(plain)
	if err != nil {
		return "", nil, false
	}
	o, ok := doc.(*Obj)
	if !ok {
		return "", nil, false
	}
	list, ok := o.GetOr("versions", nil).([]any)
	if !ok || len(list) == 0 {
		return "", nil, false
	}
	versions := make([]*kvVersion, 0, len(list))
	for _, raw := range list {
		v, ok := versionFromBackup(raw)
		if !ok {
			return "", nil, false
		}
		versions = append(versions, v)
	}
	name, ok := o.GetOr("name", nil).(string)
	if !ok {
		return "", nil, false
	}
	return name, versions, true
}

func (a *kvApp) restore(req *request, base string) (*response, *kvError) {
	data, err := requestObject(req)
	if err != nil {
		return nil, err
	}
	raw, ok := data.GetOr("value", nil).(string)
	if !ok || raw == "" {
		return nil, badParameter("The backup blob is required (property 'value').")
	}
	name, versions, ok := a.openBackup(raw)
	if !ok {
		return nil, badParameter("Backup blob contains invalid or corrupt version.")
	}
	key := strings.ToLower(name)
	_, active := a.secrets[key]
	_, deleted := a.deleted[key]
	if active || deleted {
		return nil, &kvError{status: 409, code: "Conflict", message: "Secret " + name + " already exists or is " +
			"in a deleted but recoverable state; it cannot be restored over."}
	}
	secret := newSecret(name)
	for _, v := range versions {
		secret.add(v)
	}
	a.secrets[key] = secret
	return jsonResponse(200, a.bundle(base, secret, secret.latest(), false)), nil
}
