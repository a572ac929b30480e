package main

// Entra ID as the Key Vault clients see it: the token endpoint (client secret, HTTP basic,
// client assertions, federated clients), the discovery documents, HS256 access tokens and
// the Key Vault challenge; also the fault answers.

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	federatedAudience   = "api://AzureADTokenExchange"
)

// -- ids -----------------------------------------------------------------------------

func uuidString(b []byte) string {
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func uuid4Bytes() []byte {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return b
}

// uuid4 is str(uuid.uuid4()); uuid4Hex is uuid.uuid4().hex.
func uuid4() string    { return uuidString(uuid4Bytes()) }
func uuid4Hex() string { return hex.EncodeToString(uuid4Bytes()) }

// uuid5URL is uuid.uuid5(uuid.NAMESPACE_URL, name).
func uuid5URL(name string) string {
	ns := []byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}
	sum := sha1.Sum(append(ns, name...))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return uuidString(b)
}

func newKvApp(tenantID, clientID, clientSecret string, tokenKey []byte, tokenLifetime, recoverableDays int64,
	purgeProtection bool, vaultName string, federated []string) *kvApp {
	sum := sha256.Sum256(tokenKey)
	a := &kvApp{
		tenantID: tenantID, clientID: clientID, federated: map[string]bool{}, clientSecret: clientSecret,
		tokenKey: tokenKey, kid: hex.EncodeToString(sum[:])[:16], tokenLifetime: tokenLifetime,
		recoverableDays: recoverableDays, purgeProtection: purgeProtection, vaultName: vaultName,
		oid: uuid5URL("sp:" + clientID),
	}
	for _, c := range federated {
		a.federated[c] = true
	}
	a.resetData()
	return a
}

// -- HS256 JWTs ----------------------------------------------------------------------

func hs256(key []byte, signingInput string) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signingInput))
	return b64url(mac.Sum(nil))
}

func jwtEncode(claims *Obj, key []byte, kid string) string {
	head := b64url(dumps(NewObj("typ", "JWT", "alg", "HS256", "kid", kid), styleCompact))
	body := b64url(dumps(claims, styleCompact))
	return head + "." + body + "." + hs256(key, head+"."+body)
}

// jwtDecode returns a JWT's claims; with a key, the HS256 signature is checked too.
func jwtDecode(token string, key []byte) (*Obj, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a JWT")
	}
	decode := func(part string) (*Obj, bool) {
		raw, err := b64urlDecode(part)
		if err != nil {
			return nil, false
		}
		v, err := loadsBytes(raw)
		if err != nil {
			return nil, false
		}
		o, ok := v.(*Obj)
		return o, ok
	}
	header, ok1 := decode(parts[0])
	claims, ok2 := decode(parts[1])
	if !ok1 || !ok2 {
		return nil, errors.New("malformed JWT")
	}
	if key != nil {
		if alg, _ := header.GetOr("alg", nil).(string); alg != "HS256" {
			return nil, errors.New("bad algorithm")
		}
		if !isASCII(parts[2]) { // hmac.compare_digest raises TypeError: an internal error there
			panic(errTypeError("comparing strings with non-ASCII characters is not supported"))
		}
		want := hs256(key, parts[0]+"."+parts[1])
		if subtle.ConstantTimeCompare([]byte(want), []byte(parts[2])) != 1 {
			return nil, errors.New("bad signature")
		}
	}
	return claims, nil
}

func nowFloat() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// -- auth ----------------------------------------------------------------------------

func (a *kvApp) challenge(req *request) string {
	return fmt.Sprintf(`Bearer authorization="https://%s/%s", resource="%s"`, req.host, a.tenantID, vaultResource)
}

func (a *kvApp) authenticate(req *request, _ *route) *response {
	auth := req.header("Authorization")
	www := []header{{"WWW-Authenticate", a.challenge(req)}}
	unauthorized := func(msg string) *response { return kvErrorResponse(401, "Unauthorized", msg, "", www) }
	if auth == "" {
		return unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if strings.ToLower(scheme) != "bearer" || pyStrip(token) == "" {
		return unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
	}
	claims, err := jwtDecode(pyStrip(token), a.tokenKey)
	if err != nil {
		return unauthorized("AKV10032: Invalid issuer. The token could not be validated: its signature does " +
			"not match any trusted issuer.")
	}
	if lessEqualNow(claims.GetOr("exp", int64(0)), nowFloat()) {
		return unauthorized("[TokenExpired] Error validating token: 'S2S12086'.")
	}
	aud := strings.TrimRight(pyStr(claims.GetOr("aud", "")), "/")
	if aud != vaultResource && aud != vaultAppID {
		return unauthorized(fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", vaultResource, aud))
	}
	if tid, ok := claims.GetOr("tid", nil).(string); !ok || tid != a.tenantID {
		return unauthorized(fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, "+
			"found %s.", a.tenantID, pyStr(claims.GetOr("iss", nil))))
	}
	return nil
}

// -- identity ------------------------------------------------------------------------

func (a *kvApp) oauthError(status int, errCode string, code int, description string) *response {
	now := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	trace := uuid4()
	return jsonResponse(status, NewObj(
		"error", errCode,
		"error_description", fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			code, description, trace, uuid4(), now),
		"error_codes", []any{code}, "timestamp", now, "trace_id", trace,
		"correlation_id", uuid4(),
		"error_uri", fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	))
}

func (a *kvApp) token(req *request, tenant string) *response {
	if tenant != a.tenantID {
		return a.oauthError(400, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make "+
			"sure you have the correct tenant ID and are signing into the correct cloud.", tenant))
	}
	if !utf8.Valid(req.body) {
		return a.oauthError(400, "invalid_request", 900144, "Malformed request body.")
	}
	form := map[string]string{}
	for k, v := range parseQS(string(req.body)) {
		form[k] = v[len(v)-1]
	}
	// client_secret_basic is allowed too
	if auth := req.header("Authorization"); strings.HasPrefix(strings.ToLower(auth), "basic ") {
		if raw, err := b64decode(string([]rune(auth)[6:])); err == nil && utf8.Valid(raw) {
			cid, csecret, _ := strings.Cut(string(raw), ":")
			if _, ok := form["client_id"]; !ok {
				form["client_id"] = unquotePlus(cid)
			}
			if _, ok := form["client_secret"]; !ok {
				form["client_secret"] = unquotePlus(csecret)
			}
		}
	}
	if grant := form["grant_type"]; grant != "client_credentials" {
		return a.oauthError(400, "unsupported_grant_type", 70003,
			fmt.Sprintf("The app requested an unsupported grant type '%s'.", grant))
	}
	clientID := form["client_id"]
	if clientID == "" {
		return a.oauthError(400, "invalid_request", 900144,
			"The request body must contain the following parameter: 'client_id'.")
	}
	federated := a.federated[clientID]
	if clientID != a.clientID && !federated {
		return a.oauthError(400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' "+
			"was not found in the directory '%s'.", clientID, tenant))
	}
	secret, hasSecret := form["client_secret"]
	switch {
	case form["client_assertion"] != "" || form["client_assertion_type"] != "":
		if form["client_assertion_type"] != clientAssertionType {
			return a.oauthError(400, "invalid_request", 50027, "Invalid client_assertion_type.")
		}
		assertion, err := jwtDecode(form["client_assertion"], nil)
		if err != nil {
			return a.oauthError(401, "invalid_client", 50027, "JWT token is invalid or malformed.")
		}
		if lessEqualNow(assertion.GetOr("exp", int64(0)), nowFloat()) {
			return a.oauthError(400, "invalid_client", 700024, "Client assertion is not within its valid time range.")
		}
		if federated {
			// A federated credential matches the token's audience and subject (its issuer and
			// signature are not checked here).
			aud := assertion.GetOr("aud", nil)
			auds, isList := aud.([]any)
			if !isList {
				auds = []any{aud}
			}
			found := false
			for _, x := range auds {
				if s, ok := x.(string); ok && s == federatedAudience {
					found = true
				}
			}
			if !found {
				return a.oauthError(400, "invalid_client", 700212, "No matching federated identity record found "+
					"for presented assertion audience '"+pyStr(aud)+"'.")
			}
			if sub := assertion.GetOr("sub", nil); !truthy(sub) {
				return a.oauthError(400, "invalid_client", 70021, "No matching federated identity record found "+
					"for presented assertion.")
			}
		}
	case federated:
		return a.oauthError(401, "invalid_client", 7000218, "The request body must contain the following "+
			"parameter: 'client_assertion' (this application has only federated credentials).")
	case !hasSecret:
		return a.oauthError(401, "invalid_client", 7000218, "The request body must contain the following "+
			"parameter: 'client_assertion' or 'client_secret'.")
	case !hmac.Equal([]byte(secret), []byte(a.clientSecret)):
		return a.oauthError(401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure "+
			"the secret being sent in the request is the client secret value, not the client secret ID, for a "+
			"secret added to app '%s'.", clientID))
	}
	var scopes []string
	for _, s := range strings.FieldsFunc(form["scope"], pyIsSpace) {
		if s != "openid" && s != "profile" && s != "offline_access" {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
		return a.oauthError(400, "invalid_scope", 1002012, fmt.Sprintf("The provided value for scope %s is not "+
			"valid. Client credential flows must have a scope value with /.default suffixed to the resource "+
			"identifier (application ID URI).", form["scope"]))
	}
	resource := strings.TrimSuffix(scopes[0], "/.default")
	now := time.Now().Unix()
	uti := make([]byte, 16)
	if _, err := rand.Read(uti); err != nil {
		panic(err)
	}
	sts := "https://sts.windows.net/" + a.tenantID + "/"
	claims := NewObj("aud", resource, "iss", sts, "iat", now, "nbf", now, "exp", now+a.tokenLifetime,
		"appid", clientID, "appidacr", "1", "idp", sts, "oid", a.oid, "sub", a.oid, "tid", a.tenantID,
		"ver", "1.0", "uti", b64url(uti))
	token := jwtEncode(claims, a.tokenKey, a.kid)
	return newResponse(200, NewObj("token_type", "Bearer", "expires_in", a.tokenLifetime,
		"ext_expires_in", a.tokenLifetime, "access_token", token),
		[]header{{"Cache-Control", "no-store, no-cache"}, {"Pragma", "no-cache"}}, defaultContentType)
}

func (a *kvApp) openidConfiguration(req *request, tenant string) *response {
	if tenant != a.tenantID && tenant != "common" && tenant != "organizations" {
		return jsonResponse(400, NewObj("error", "invalid_tenant", "error_description",
			fmt.Sprintf("AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID "+
				"and are signing into the correct cloud.", tenant), "error_codes", []any{90002}))
	}
	host := "https://" + req.host
	base := host + "/" + tenant
	return jsonResponse(200, NewObj(
		"token_endpoint", base+"/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported", []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri", host+"/"+tenant+"/discovery/v2.0/keys",
		"response_modes_supported", []string{"query", "fragment", "form_post"},
		"subject_types_supported", []string{"pairwise"},
		"id_token_signing_alg_values_supported", []string{"RS256"},
		"response_types_supported", []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported", []string{"openid", "profile", "email", "offline_access"},
		"issuer", base+"/v2.0",
		"request_uri_parameter_supported", false,
		"userinfo_endpoint", host+"/oidc/userinfo",
		"authorization_endpoint", base+"/oauth2/v2.0/authorize",
		"device_authorization_endpoint", base+"/oauth2/v2.0/devicecode",
		"http_logout_supported", true,
		"frontchannel_logout_supported", true,
		"end_session_endpoint", base+"/oauth2/v2.0/logout",
		"claims_supported", []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"},
		"tenant_region_scope", "NA",
		"cloud_instance_name", "microsoftonline.com",
		"cloud_graph_host_name", "graph.windows.net",
		"msgraph_host", "graph.microsoft.com",
	))
}

func (a *kvApp) instanceDiscovery(req *request) *response {
	host := req.host
	return jsonResponse(200, NewObj(
		"tenant_discovery_endpoint", "https://"+host+"/"+a.tenantID+"/v2.0/.well-known/openid-configuration",
		"api-version", "1.1",
		"metadata", []any{NewObj("preferred_network", host, "preferred_cache", host, "aliases", []string{host})},
	))
}

// -- faults --------------------------------------------------------------------------

// retryAfterText is str(int(ra) if float(ra).is_integer() else ra).
func retryAfterText(ra any) string {
	switch x := ra.(type) {
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		if !math.IsInf(x, 0) && x == math.Trunc(x) {
			return strconv.FormatFloat(x, 'f', 0, 64)
		}
		return pyFloatRepr(x, false)
	}
	return pyStr(ra)
}

func (a *kvApp) faultResponse(kind string, spec *Obj, req *request, rt *route) *response {
	var headers []header
	if kind == "throttle" {
		ra := spec.GetOr("retry_after", int64(1))
		seconds, _ := pyNumber(ra)
		ms := strconv.FormatFloat(math.RoundToEven(seconds*1000), 'f', 0, 64)
		switch hint, _ := spec.GetOr("hint", "header").(string); hint {
		case "ms":
			headers = append(headers, header{"retry-after-ms", ms})
		case "x-ms":
			headers = append(headers, header{"x-ms-retry-after-ms", ms})
		case "http-date":
			// Whole seconds only; rounded up so the date is never before the delay.
			when := time.Unix(int64(math.Ceil(nowFloat()+seconds)), 0).UTC()
			headers = append(headers, header{"Retry-After", when.Format(http.TimeFormat)})
		default:
			headers = append(headers, header{"Retry-After", retryAfterText(ra)})
		}
	}
	status503 := func() int {
		n, _ := pyNumber(spec.GetOr("status", int64(503)))
		return int(n)
	}
	if rt.op == "token" || rt.op == "discovery" {
		var r *response
		switch kind {
		case "throttle":
			r = a.oauthError(429, "temporarily_unavailable", 50196, "The server has temporarily throttled the request.")
		case "errors_5xx":
			r = a.oauthError(status503(), "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		default:
			r = a.oauthError(401, "invalid_client", 7000222, fmt.Sprintf("The provided client secret keys for app "+
				"'%s' are expired.", a.clientID))
		}
		for _, h := range headers {
			r.set(h.key, h.value)
		}
		return r
	}
	switch kind {
	case "throttle":
		return kvErrorResponse(429, "Throttled", "Request was not processed because too many requests were "+
			"received. Reason: A=0/10s,secrets;L=2000/10s. Retry after the interval given in the Retry-After header.",
			"", headers)
	case "errors_5xx":
		status := status503()
		var code, msg string
		switch status {
		case 500:
			code, msg = "InternalServerError", "An internal server error occurred."
		case 502:
			code, msg = "BadGateway", "The service received an invalid response."
		case 504:
			code, msg = "GatewayTimeout", "The request timed out."
		default:
			code, msg = "ServiceUnavailable", "The service is temporarily unavailable. Please retry."
		}
		return kvErrorResponse(status, code, msg, "", nil)
	}
	// deny: what Key Vault with Azure RBAC says when the role assignment is missing
	action, ok := rbacActions[rt.op]
	if !ok {
		action = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"
	}
	name := ""
	if segs := req.segments; len(segs) > 1 && (segs[0] == "secrets" || segs[0] == "deletedsecrets") {
		name = segs[1]
	}
	resource := "/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/caracal-testbed/providers/" +
		"microsoft.keyvault/vaults/" + a.vaultName
	if name != "" {
		resource += "/secrets/" + name
	}
	msg := "Caller is not authorized to perform action on resource.\r\n" +
		"If role assignments, deny assignments or role definitions were changed recently, please observe " +
		"propagation time.\r\n" +
		"Caller: appid=" + a.clientID + ";oid=" + a.oid + ";iss=https://sts.windows.net/" + a.tenantID + "/\r\n" +
		"Action: '" + action + "'\r\n" +
		"Resource: '" + strings.ToLower(resource) + "'\r\n" +
		"Assignment: (not found)\r\n" +
		"DenyAssignmentId: null\r\n" +
		"DecisionReason: null \r\n" +
		"Vault: " + a.vaultName + ";location=eastus\r\n"
	return kvErrorResponse(403, "Forbidden", msg, "ForbiddenByRbac", nil)
}
