// Command cert-manager-controller builds the real cert-manager controller
// (github.com/cert-manager/cert-manager, the root module; its cmd/controller
// module is not on the Go module proxy) for the caracal-deploy test bed.
//
// It does what upstream's cmd/controller/app.Run does (v1.21: build a
// controller.ContextFactory, construct each enabled controller from
// controller.Known(), start the shared informer factories), with a fixed, small
// set of controllers: the CA and SelfSigned issuers, the certificates
// controllers, the CertificateRequest approver and ingress-shim. No ACME, no
// Vault or Venafi, no webhook, no cainjector, no Gateway API; leader election is
// off. One HTTP listener, which must be on loopback, serves /metrics (upstream's
// collectors), /livez and /readyz (200 once every informer has synced).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
	"github.com/cert-manager/cert-manager/pkg/util"

	// Controllers register themselves with controller.Known() in init().
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificate-shim/ingresses"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	_ "github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	// Issuer types the issuers/clusterissuers controllers can set up (issuer.RegisterIssuer).
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
)

// defaultControllers: the names the packages above register (their ControllerName /
// CRControllerName constants).
var defaultControllers = []string{
	"issuers",
	"clusterissuers",
	"certificates-trigger",
	"certificates-issuing",
	"certificates-key-manager",
	"certificates-request-manager",
	"certificates-readiness",
	"certificates-revision-manager",
	"certificaterequests-issuer-selfsigned",
	"certificaterequests-issuer-ca",
	"certificaterequests-approver",
	"ingress-shim",
}

func main() {
	klog.InitFlags(flag.CommandLine)
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG)")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "cert-manager",
		"namespace of the Secrets that ClusterIssuers reference (upstream's --cluster-resource-namespace)")
	controllers := flag.String("controllers", strings.Join(defaultControllers, ","),
		"comma-separated controllers to run; any of: "+strings.Join(known(), ","))
	listen := flag.String("listen-address", "127.0.0.1:0", "loopback address of /metrics, /livez and /readyz")
	workers := flag.Int("concurrent-workers", 5, "workers per controller (upstream's default 5)")
	qps := flag.Float64("kube-api-qps", 20, "client-side QPS when the API server has no priority and fairness")
	burst := flag.Int("kube-api-burst", 50, "client-side burst")
	flag.Parse()

	logf.InitLogs()
	defer logf.FlushLogs()

	if err := run(*kubeconfig, *clusterResourceNamespace, *controllers, *listen, *workers, float32(*qps), *burst); err != nil {
		logf.Log.Error(err, "cert-manager controller failed")
		logf.FlushLogs()
		os.Exit(1)
	}
}

func known() []string {
	var names []string
	for n := range controller.Known() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func run(kubeconfig, clusterResourceNamespace, controllers, listen string, workers int, qps float32, burst int) error {
	rootCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rootCtx = logf.NewContext(rootCtx, logf.Log, "controller")
	log := logf.FromContext(rootCtx)

	enabled := map[string]bool{}
	for _, n := range strings.Split(controllers, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if _, ok := controller.Known()[n]; !ok {
			return fmt.Errorf("unknown controller %q (known: %s)", n, strings.Join(known(), ","))
		}
		enabled[n] = true
	}
	if len(enabled) == 0 {
		return errors.New("no controllers enabled")
	}

	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen-address %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--listen-address %q: only a loopback IP is allowed", listen)
	}

	v := util.VersionInfo()
	log.Info("starting cert-manager controller (caracal-deploy test bed build)", "version", v.GitVersion, "go_version", v.GoVersion)

	// The options upstream's buildControllerContextFactory passes that matter without ACME
	// (defaults of internal/apis/config/controller/v1alpha1/defaults.go, except the cluster
	// resource namespace: upstream's default is kube-system, the Helm chart's is its release
	// namespace, cert-manager).
	ctxFactory, err := controller.NewContextFactory(rootCtx, controller.ContextOptions{
		Kubeconfig:         kubeconfig,
		KubernetesAPIQPS:   qps,
		KubernetesAPIBurst: burst,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace: clusterResourceNamespace,
			// Only ACME, Vault and Venafi read these; the bed gives nothing ambient.
			ClusterIssuerAmbientCredentials: false,
			IssuerAmbientCredentials:        false,
		},
		IngressShimOptions: controller.IngressShimOptions{
			DefaultIssuerKind:                 "Issuer",
			DefaultIssuerGroup:                "cert-manager.io",
			DefaultAutoCertificateAnnotations: []string{"kubernetes.io/tls-acme"},
		},
		CertificateOptions: controller.CertificateOptions{
			EnableOwnerRef:                           false,
			CopiedAnnotationPrefixes:                 []string{"*", "-kubectl.kubernetes.io/", "-fluxcd.io/", "-argocd.argoproj.io/"},
			CertificateRequestMinimumBackoffDuration: time.Hour,
			CertificateRequestMaximumBackoffDuration: 32 * time.Hour,
		},
	})
	if err != nil {
		return err
	}
	ctx, err := ctxFactory.Build()
	if err != nil {
		return err
	}

	names := make([]string, 0, len(enabled))
	for n := range enabled {
		names = append(names, n)
	}
	sort.Strings(names)
	log.Info(fmt.Sprintf("enabled controllers: %s", strings.Join(names, ",")), "cluster_resource_namespace", clusterResourceNamespace)

	g, gctx := errgroup.WithContext(rootCtx)

	// Metrics as upstream, less the ACME collector (it would watch Challenges, whose CRD the
	// bed does not install).
	ctx.Metrics.SetupCertificateCollector(ctx.SharedInformerFactory.Certmanager().V1().Certificates().Lister())
	ctx.Metrics.SetupIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().Issuers().Lister())
	if enabled["clusterissuers"] {
		ctx.Metrics.SetupClusterIssuerCollector(ctx.SharedInformerFactory.Certmanager().V1().ClusterIssuers().Lister())
	}
	ln, err := (&net.ListenConfig{}).Listen(rootCtx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
	}
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/metrics", ctx.Metrics.NewServer(ln).Handler)
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { _, _ = fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "informers not synced", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 32 * time.Second}
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx) //nolint:contextcheck
	})
	g.Go(func() error {
		log.Info("serving /metrics, /livez, /readyz", "address", ln.Addr().String())
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})

	for _, n := range names {
		iface, err := controller.Known()[n](ctxFactory)
		if err != nil {
			stop()
			_ = g.Wait()
			return fmt.Errorf("error starting controller %s: %w", n, err)
		}
		clog := log.WithValues("controller", n)
		g.Go(func() error {
			clog.Info("starting controller")
			return iface.Run(workers, gctx)
		})
	}

	ctx.SharedInformerFactory.Start(gctx.Done())
	ctx.KubeSharedInformerFactory.Start(gctx.Done())
	ctx.HTTP01ResourceMetadataInformersFactory.Start(gctx.Done())

	g.Go(func() error {
		for name, ok := range ctx.SharedInformerFactory.WaitForCacheSync(gctx.Done()) {
			if !ok {
				return fmt.Errorf("informer %v did not sync", name)
			}
		}
		for name, ok := range ctx.KubeSharedInformerFactory.WaitForCacheSync(gctx.Done()) {
			if !ok {
				return fmt.Errorf("informer %s did not sync", name)
			}
		}
		ready.Store(true)
		log.Info("all informers synced: ready")
		return nil
	})

	err = g.Wait()
	ctx.HTTP01ResourceMetadataInformersFactory.Shutdown()
	ctx.KubeSharedInformerFactory.Shutdown()
	ctx.SharedInformerFactory.Shutdown()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("control loops exited")
	return nil
}
