// Command openloop sends POST requests at a constant rate (open loop) and
// reports latency measured from each request's *scheduled* send time, so a
// slow server cannot hide its queueing (no coordinated omission).
//
// Request i is due at start + i/rate whether or not earlier ones have
// answered. For streams it also reports the time to the first SSE "data:"
// event (TTFT), again from the scheduled time, and counts a stream without
// "data: [DONE]" as an error. The result is one JSON object on stdout.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

type sample struct {
	ok      bool
	kind    string
	latency time.Duration
	ttft    time.Duration
	lag     time.Duration
}

type summary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

type result struct {
	URL         string         `json:"url"`
	Stream      bool           `json:"stream"`
	OfferedRate float64        `json:"offered_rate"`
	Duration    float64        `json:"duration_s"`
	Sent        int            `json:"sent"`
	OK          int            `json:"ok"`
	Errors      map[string]int `json:"errors"`
	AchievedRPS float64        `json:"achieved_rps"`
	LatencyMs   *summary       `json:"latency_ms"`
	TTFTMs      *summary       `json:"ttft_ms,omitempty"`
	SendLagMs   *summary       `json:"send_lag_ms"`
}

func summarize(values []time.Duration) *summary {
	if len(values) == 0 {
		return nil
	}
	ms := make([]float64, len(values))
	total := 0.0
	for i, v := range values {
		ms[i] = float64(v) / float64(time.Millisecond)
		total += ms[i]
	}
	sort.Float64s(ms)
	pick := func(p float64) float64 {
		i := int(p/100*float64(len(ms))+0.5) - 1
		if i < 0 {
			i = 0
		}
		if i >= len(ms) {
			i = len(ms) - 1
		}
		return ms[i]
	}
	return &summary{P50: pick(50), P90: pick(90), P99: pick(99), Max: ms[len(ms)-1], Mean: total / float64(len(ms))}
}

type driver struct {
	client  *http.Client
	url     string
	body    []byte
	headers http.Header
	stream  bool
}

func (d *driver) one(ctx context.Context, scheduled time.Time) sample {
	sent := time.Now()
	s := sample{lag: sent.Sub(scheduled)}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		s.kind = "request"
		return s
	}
	req.Header = d.headers.Clone()
	resp, err := d.client.Do(req)
	if err != nil {
		s.kind = classify(err)
		return s
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		s.kind = fmt.Sprintf("http_%d", resp.StatusCode)
		return s
	}
	if !d.stream {
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil || n == 0 {
			s.kind = "body"
			return s
		}
		s.ok, s.latency = true, time.Since(scheduled)
		return s
	}
	reader := bufio.NewReaderSize(resp.Body, 16<<10)
	done := false
	for {
		line, err := reader.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("data:")) {
			if s.ttft == 0 {
				s.ttft = time.Since(scheduled)
			}
			if bytes.Equal(bytes.TrimSpace(line[5:]), []byte("[DONE]")) {
				done = true
			}
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if !errors.Is(err, io.EOF) {
				s.kind = classify(err)
				return s
			}
			break
		}
	}
	if !done {
		s.kind = "incomplete_stream"
		return s
	}
	s.ok, s.latency = true, time.Since(scheduled)
	return s
}

func classify(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case strings.Contains(err.Error(), "connection refused"):
		return "refused"
	case strings.Contains(err.Error(), "reset"):
		return "reset"
	default:
		return "transport"
	}
}

// run sends at rate for duration; samples are kept only when record is true.
func (d *driver) run(rate float64, duration, timeout time.Duration, maxInFlight int, record bool) ([]sample, int, time.Duration) {
	interval := time.Duration(float64(time.Second) / rate)
	total := int(rate * duration.Seconds())
	var mu sync.Mutex
	var wg sync.WaitGroup
	samples := make([]sample, 0, total)
	slots := make(chan struct{}, maxInFlight)
	dropped := 0
	start := time.Now()
	for i := 0; i < total; i++ {
		scheduled := start.Add(time.Duration(i) * interval)
		if wait := time.Until(scheduled); wait > 0 {
			time.Sleep(wait)
		}
		select {
		case slots <- struct{}{}:
		default:
			// The client's own limit: counted as an error, never silently skipped.
			dropped++
			continue
		}
		wg.Add(1)
		go func(scheduled time.Time) {
			defer wg.Done()
			ctx, cancel := context.WithDeadline(context.Background(), scheduled.Add(timeout))
			s := d.one(ctx, scheduled)
			cancel()
			<-slots
			if record {
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
		}(scheduled)
	}
	sendWindow := time.Since(start)
	wg.Wait()
	return samples, dropped, sendWindow
}

func main() {
	url := flag.String("url", "", "target URL")
	bodyFile := flag.String("body-file", "", "file holding the JSON request body")
	rate := flag.Float64("rate", 50, "offered requests per second")
	duration := flag.Float64("duration", 10, "measured seconds")
	warmup := flag.Float64("warmup", 1, "seconds sent at the same rate before measuring (not recorded)")
	stream := flag.Bool("stream", false, "expect an SSE stream; report time to first event")
	timeout := flag.Float64("timeout", 10, "seconds from the scheduled time before a request counts as a timeout")
	maxInFlight := flag.Int("max-inflight", 4096, "requests outstanding at most; beyond it a send counts as dropped")
	var headers headerList
	flag.Var(&headers, "header", "extra request header, 'Name: value' (repeatable)")
	flag.Parse()
	if *url == "" || *bodyFile == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "openloop: --url, --body-file and a positive --rate are required")
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "openloop:", err)
		os.Exit(2)
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	for _, line := range headers {
		name, value, ok := strings.Cut(line, ":")
		if ok {
			h.Set(strings.TrimSpace(name), strings.TrimSpace(value))
		}
	}
	transport := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: 8192,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	d := &driver{client: &http.Client{Transport: transport}, url: *url, body: body, headers: h, stream: *stream}
	limit := time.Duration(*timeout * float64(time.Second))
	if *warmup > 0 {
		d.run(*rate, time.Duration(*warmup*float64(time.Second)), limit, *maxInFlight, false)
	}
	samples, dropped, window := d.run(*rate, time.Duration(*duration*float64(time.Second)), limit, *maxInFlight, true)

	res := result{URL: *url, Stream: *stream, OfferedRate: *rate, Duration: window.Seconds(), Errors: map[string]int{}}
	var lat, ttft, lag []time.Duration
	for _, s := range samples {
		res.Sent++
		lag = append(lag, s.lag)
		if s.ok {
			res.OK++
			lat = append(lat, s.latency)
			if *stream {
				ttft = append(ttft, s.ttft)
			}
		} else {
			res.Errors[s.kind]++
		}
	}
	if dropped > 0 {
		res.Errors["dropped_client_limit"] = dropped
		res.Sent += dropped
	}
	if window > 0 {
		res.AchievedRPS = float64(res.OK) / window.Seconds()
	}
	res.LatencyMs = summarize(lat)
	res.TTFTMs = summarize(ttft)
	res.SendLagMs = summarize(lag)
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
