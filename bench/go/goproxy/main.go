// goproxy is the benchmark's compiled reference: a bare reverse proxy from Go's
// standard library (net/http/httputil), with no governance at all. Run with
// GOMAXPROCS=1 on the server core, it shows what any pass-through adds on this
// machine (the cross-core hops and the wake-ups of an idle vCPU), so the Python
// servers' figures can be read against that floor.
//
// Routes as the Python pass-throughs do (bench/proxies/common.py):
// /v1/... to --upstream, /llm/v1/... to --llm-upstream, /healthz answers "ok".
// Streams are flushed event by event (FlushInterval -1).
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
)

func reverseProxy(base string, prefix string) http.Handler {
	target, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil {
		log.Fatalf("goproxy: bad upstream %q: %v", base, err)
	}
	transport := &http.Transport{MaxIdleConnsPerHost: 512, DisableCompression: true}
	return &httputil.ReverseProxy{
		Director: func(req *http.Request) {
			req.URL.Scheme = target.Scheme
			req.URL.Host = target.Host
			req.URL.Path = target.Path + strings.TrimPrefix(req.URL.Path, prefix)
			req.Host = target.Host
		},
		Transport:     transport,
		FlushInterval: -1,
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "listen address")
	upstream := flag.String("upstream", "", "base URL ending in /v1 for /v1/...")
	llmUpstream := flag.String("llm-upstream", "", "base URL ending in /v1 for /llm/v1/... (default: --upstream)")
	flag.Parse()
	if *upstream == "" {
		log.Fatal("goproxy: --upstream is required")
	}
	if *llmUpstream == "" {
		*llmUpstream = *upstream
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", reverseProxy(*upstream, "/v1"))
	mux.Handle("/llm/v1/", reverseProxy(*llmUpstream, "/llm/v1"))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Printf("goproxy on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}
