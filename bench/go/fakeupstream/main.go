// Command fakeupstream is a fast fake OpenAI-compatible server for benchmarks.
//
// It answers POST /v1/chat/completions (a chat.completion JSON object, or an
// SSE stream of chat.completion.chunk events: a role chunk, one chunk per
// word, a finish chunk, with "usage": null on every chunk and a final usage
// chunk with "choices": [] when stream_options.include_usage is set, then
// "data: [DONE]"), POST /v1/embeddings (floats, or base64 when asked) and
// GET /v1/models. It never checks credentials.
//
// Model timing: --latency-ms is waited before the first byte of every answer
// and --chunk-interval-ms between two stream events, event i being due i
// intervals after the first (with 0, a stream is written in one go).
// Standard library only: it builds offline with Debian's golang-go.
package main

import (
	"flag"
	"log"
	"strings"
	"time"
)

const reply = "The quick brown fox jumps over the lazy dog while the benchmark counts every token twice."

const maxBody = 16 << 20

var (
	latency       time.Duration
	chunkInterval time.Duration
	words         []string
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18080", "listen address")
	latencyMs := flag.Float64("latency-ms", 0, "model latency before the first byte of every answer, in ms")
	intervalMs := flag.Float64("chunk-interval-ms", 0, "pause between two stream events, in ms (0: one write)")
	nWords := flag.Int("words", 10, "content chunks per stream (a stream has words+2 chunks, +1 usage chunk)")
	dim := flag.Int("embedding-dim", 256, "embedding dimensions")
	flag.Parse()

	latency = time.Duration(*latencyMs * float64(time.Millisecond))
	chunkInterval = time.Duration(*intervalMs * float64(time.Millisecond))
	all := strings.SplitAfter(reply, " ")
	for i := 0; i < *nWords; i++ {
		words = append(words, all[i%len(all)])
	}
	buildEmbedding(*dim)
	log.Printf("fakeupstream on %s (latency %v, chunk interval %v, %d words)", *addr, latency, chunkInterval, len(words))
	log.Fatal(listen(*addr))
}
