// Command azure-kv emulates Azure Key Vault (secrets) over HTTPS, with an Entra-like token
// endpoint, for the caracal-deploy test bed. It replaced a Python emulator (azure_kv.py): same
// routes, answers, admin API (/_emulator/) and fault injection, but requests are served in
// parallel.
//
// Vault API (every call needs api-version; 400 BadParameter without it):
//
//	PUT    /secrets/{name}                set      (new secret, or a new version)
//	GET    /secrets/{name}[/]             get      latest version (with value)
//	GET    /secrets/{name}/{version}      get      that version
//	PATCH  /secrets/{name}[/{version}]    update   attributes, tags, contentType
//	DELETE /secrets/{name}                delete   soft delete -> DeletedSecretBundle
//	GET    /secrets?maxresults=N          list     (paged by an absolute nextLink)
//	GET    /secrets/{name}/versions       list_versions
//	POST   /secrets/{name}/backup         backup
//	POST   /secrets/restore               restore
//	GET    /deletedsecrets                list_deleted
//	GET    /deletedsecrets/{name}         get_deleted
//	POST   /deletedsecrets/{name}/recover recover
//	DELETE /deletedsecrets/{name}         purge    (204)
//
// Identity (same host): POST /{tenant}/oauth2/v2.0/token (client_credentials with a client
// secret or a client assertion), GET /{tenant}/v2.0/.well-known/openid-configuration and
// GET /common/discovery/instance.
//
// The certificates are not made here: run `python testbed/emulators/emulator_tls.py DIR`
// first (it writes ca.pem, ca-key.pem, server.pem and server-key.pem into DIR).
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

const (
	defaultTenant = "00000000-0000-4000-8000-00000000ca1a"
	defaultClient = "00000000-0000-4000-8000-00000000c11e"
	defaultSecret = "caracal-testbed-client-secret"
)

const usageLine = "usage: azure-kv [-h] [--host HOST] [--port PORT] --state-dir STATE_DIR\n" +
	"                [--tenant-id TENANT_ID] [--client-id CLIENT_ID]\n" +
	"                [--federated-client CLIENT_ID]\n" +
	"                [--client-secret-file CLIENT_SECRET_FILE]\n" +
	"                [--vault-name VAULT_NAME] [--token-lifetime TOKEN_LIFETIME]\n" +
	"                [--recoverable-days RECOVERABLE_DAYS] [--purge-protection]\n" +
	"                [--latency-ms LATENCY_MS] [--ready-file READY_FILE]\n"

const helpText = usageLine + `
Azure Key Vault (secrets) emulator over HTTPS, with an Entra-like token endpoint.

options:
  -h, --help            show this help message and exit
  --host HOST
  --port PORT           0 picks a free port (see --ready-file)
  --state-dir STATE_DIR
                        certificates (ca.pem is the CA clients must trust) and the
                        token key; server.pem and server-key.pem must exist (run
                        python testbed/emulators/emulator_tls.py STATE_DIR)
  --tenant-id TENANT_ID
  --client-id CLIENT_ID
  --federated-client CLIENT_ID
                        a workload identity (repeatable): signs in only with a client
                        assertion whose audience is api://AzureADTokenExchange
  --client-secret-file CLIENT_SECRET_FILE
                        read the accepted client secret from this file (default: a
                        fixed test value)
  --vault-name VAULT_NAME
  --token-lifetime TOKEN_LIFETIME
  --recoverable-days RECOVERABLE_DAYS
  --purge-protection
  --latency-ms LATENCY_MS
                        delay every API request
  --ready-file READY_FILE
                        write {port, url, pid, ca} here once listening
`

// usageError ends the program as argparse's error() does: usage, the message, status 2.
func usageError(msg string) {
	fmt.Fprint(os.Stderr, usageLine)
	fmt.Fprintf(os.Stderr, "azure-kv: error: %s\n", msg)
	os.Exit(2)
}

// intFlag is an argparse type=int option.
type intFlag struct {
	name string
	v    *int64
	bad  *string
}

func (f intFlag) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.FormatInt(*f.v, 10)
}

func (f intFlag) Set(s string) error {
	n, err := pyInt(s)
	if err != nil {
		*f.bad = fmt.Sprintf("argument --%s: invalid int value: %s", f.name, pyStrRepr(s))
		return err
	}
	*f.v = n
	return nil
}

// listFlag is an argparse action="append" option.
type listFlag struct{ v *[]string }

func (f listFlag) String() string { return "" }

func (f listFlag) Set(s string) error {
	*f.v = append(*f.v, s)
	return nil
}

type options struct {
	host, stateDir, tenantID, clientID, clientSecretFile, vaultName, readyFile string
	port, tokenLifetime, recoverableDays, latencyMS                            int64
	federated                                                                  []string
	purgeProtection                                                            bool
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// expandAbbreviations lets unique prefixes of the long options stand for them, as argparse does.
func expandAbbreviations(fs *flag.FlagSet, args []string) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	names = append(names, "help")
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			out = append(out, args[i:]...)
			break
		}
		if !strings.HasPrefix(arg, "--") || len(arg) == 2 {
			out = append(out, arg)
			continue
		}
		name, value, hasValue := strings.Cut(arg[2:], "=")
		full := name
		if fs.Lookup(name) == nil && name != "help" {
			var matches []string
			for _, n := range names {
				if strings.HasPrefix(n, name) {
					matches = append(matches, "--"+n)
				}
			}
			switch len(matches) {
			case 1:
				full = matches[0][2:]
			case 0:
			default:
				usageError(fmt.Sprintf("ambiguous option: --%s could match %s", name, strings.Join(matches, ", ")))
			}
		}
		if hasValue {
			out = append(out, "--"+full+"="+value)
		} else {
			out = append(out, "--"+full)
		}
		// an option's value is taken as it is, even when it starts with dashes
		if f := fs.Lookup(full); f != nil && !hasValue && full != "purge-protection" && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out
}

func parseArgs(argv []string) options {
	o := options{port: 0, tokenLifetime: 3600, recoverableDays: 90}
	var bad string
	fs := flag.NewFlagSet("azure-kv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.host, "host", "127.0.0.1", "")
	fs.Var(intFlag{"port", &o.port, &bad}, "port", "")
	fs.StringVar(&o.stateDir, "state-dir", "", "")
	fs.StringVar(&o.tenantID, "tenant-id", envOr("CARACAL_TESTBED_AZURE_TENANT_ID", defaultTenant), "")
	fs.StringVar(&o.clientID, "client-id", envOr("CARACAL_TESTBED_AZURE_CLIENT_ID", defaultClient), "")
	fs.Var(listFlag{&o.federated}, "federated-client", "")
	fs.StringVar(&o.clientSecretFile, "client-secret-file", "", "")
	fs.StringVar(&o.vaultName, "vault-name", "caracal-testbed", "")
	fs.Var(intFlag{"token-lifetime", &o.tokenLifetime, &bad}, "token-lifetime", "")
	fs.Var(intFlag{"recoverable-days", &o.recoverableDays, &bad}, "recoverable-days", "")
	fs.BoolVar(&o.purgeProtection, "purge-protection", false, "")
	fs.Var(intFlag{"latency-ms", &o.latencyMS, &bad}, "latency-ms", "")
	fs.StringVar(&o.readyFile, "ready-file", "", "")
	stateDirSet := false

	err := fs.Parse(expandAbbreviations(fs, argv))
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Print(helpText)
		os.Exit(0)
	case err != nil && bad != "":
		usageError(bad)
	case err != nil:
		msg := err.Error()
		if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
			msg = "unrecognized arguments: " + rest
		} else if rest, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
			msg = "argument --" + rest + ": expected one argument"
		}
		usageError(msg)
	}
	if fs.NArg() > 0 {
		usageError("unrecognized arguments: " + strings.Join(fs.Args(), " "))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "state-dir" {
			stateDirSet = true
		}
	})
	if !stateDirSet {
		usageError("the following arguments are required: --state-dir")
	}
	if o.federated == nil {
		o.federated = []string{}
	}
	return o
}

// joinPath is os.path.join(dir, name) (no cleaning, as the ready file says it).
func joinPath(dir, name string) string {
	if dir == "" || strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

func fatal(code int, format string, args ...any) {
	logLine(emulatorName, fmt.Sprintf(format, args...))
	os.Exit(code)
}

func main() {
	o := parseArgs(os.Args[1:])
	if !tenantRE.MatchString(o.tenantID) {
		usageError("invalid --tenant-id")
	}
	clientSecret := defaultSecret
	if o.clientSecretFile != "" {
		data, err := os.ReadFile(o.clientSecretFile)
		if err != nil {
			fatal(1, "cannot read --client-secret-file: %v", err)
		}
		clientSecret = pyStrip(string(data))
	}
	if err := os.MkdirAll(o.stateDir, 0o777); err != nil {
		fatal(1, "cannot create --state-dir: %v", err)
	}
	ca := joinPath(o.stateDir, "ca.pem")
	certFile, keyFile := joinPath(o.stateDir, "server.pem"), joinPath(o.stateDir, "server-key.pem")
	for _, p := range []string{ca, certFile, keyFile} {
		if _, err := os.Stat(p); err != nil {
			fatal(2, "no certificate: %s is missing; run `python testbed/emulators/emulator_tls.py %s` first "+
				"(it writes ca.pem, ca-key.pem, server.pem, server-key.pem)", p, o.stateDir)
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		fatal(2, "cannot load %s / %s: %v (run `python testbed/emulators/emulator_tls.py %s`)",
			certFile, keyFile, err, o.stateDir)
	}
	tokenKey, err := loadOrCreateSecret(joinPath(o.stateDir, "token.key"), 32)
	if err != nil {
		fatal(1, "token key: %v", err)
	}
	app := newKvApp(o.tenantID, o.clientID, clientSecret, tokenKey, o.tokenLifetime, o.recoverableDays,
		o.purgeProtection, o.vaultName, o.federated)

	ln, err := net.Listen("tcp", net.JoinHostPort(o.host, strconv.FormatInt(o.port, 10)))
	if err != nil {
		fatal(1, "cannot listen on %s:%d: %v", o.host, o.port, err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := &server{app: app, faults: newFaults(o.latencyMS), stats: newStats(), port: port}
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		// HTTP/2 when the client offers it (as Key Vault does), else HTTP/1.1.
		NextProtos: []string{"h2", "http/1.1"},
	}
	listener := newTLSListener(ln, tlsCfg, emulatorName)
	httpServer := newHTTPServer(srv)

	url := fmt.Sprintf("https://%s:%d", o.host, port)
	ready := NewObj("port", port, "url", url, "pid", os.Getpid(), "ca", ca, "tenant_id", o.tenantID,
		"client_id", o.clientID, "federated_clients", o.federated)
	if err := writeReadyFile(o.readyFile, ready); err != nil {
		fatal(1, "cannot write --ready-file: %v", err)
	}
	logLine(emulatorName, fmt.Sprintf("listening on %s (tenant %s, CA %s)", url, o.tenantID, ca))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		sig := <-signals
		logLine(emulatorName, fmt.Sprintf("signal %d: shutting down", sig.(syscall.Signal)))
		httpServer.Close()
	}()
	if err := httpServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logLine(emulatorName, "serve: "+err.Error())
	}
	listener.Close()
	logLine(emulatorName, "stopped")
}
