package main

// The OpenAI wire format: chat completions (JSON and SSE), embeddings, models.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"sync/atomic"
	"time"
)

var (
	counter     uint64
	embedFloats []byte
	embedBase64 []byte
)

type chatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
}

// lastChat is one connection's last chat request body and its parse. Load generators send one
// body over and over; decoding it with encoding/json each time was a third of this server's CPU
// per request, and the fake upstream must stay far from being the bottleneck.
type lastChat struct {
	body []byte
	req  chatRequest
}

func route(res *response, req *request, last *lastChat) {
	switch string(req.path) {
	case "/v1/chat/completions", "/chat/completions":
		if !bytes.Equal(req.method, []byte("POST")) {
			writeError(res, 405, "use POST")
			return
		}
		chat(res, req.body, last)
	case "/v1/embeddings", "/embeddings":
		if !bytes.Equal(req.method, []byte("POST")) {
			writeError(res, 405, "use POST")
			return
		}
		embeddings(res, req.body)
	case "/v1/models", "/models":
		body := []byte(`{"object":"list","data":[{"id":"bench","object":"model","created":1731000000,"owned_by":"fake"}]}`)
		res.start(200, "application/json", len(body), nil)
		res.write(body)
	case "/healthz":
		res.start(200, "text/plain", 2, nil)
		res.write([]byte("ok"))
	default:
		writeError(res, 404, "no such endpoint")
	}
}

func writeError(res *response, status int, message string) {
	b := append([]byte(`{"error":{"message":`), strconv.Quote(message)...)
	b = append(b, `,"type":"invalid_request_error","param":null,"code":null}}`...)
	res.start(status, "application/json", len(b), nil)
	res.write(b)
}

func newID(prefix string) string {
	n := atomic.AddUint64(&counter, 1)
	return prefix + "fake" + strconv.FormatUint(n, 16)
}

func headers(id string) []string {
	return []string{
		"x-request-id", id,
		"openai-processing-ms", strconv.Itoa(int(latency / time.Millisecond)),
		"openai-version", "2020-10-01",
		"x-ratelimit-remaining-requests", "9999",
	}
}

func appendJSONString(b []byte, s string) []byte {
	out, _ := json.Marshal(s)
	return append(b, out...)
}

func appendUsage(b []byte, prompt, completion int) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt), 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, int64(completion), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(prompt+completion), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},`...)
	b = append(b, `"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,`...)
	b = append(b, `"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`...)
	return b
}

func chat(res *response, body []byte, last *lastChat) {
	if last.body == nil || !bytes.Equal(body, last.body) {
		var req chatRequest
		if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
			last.body = nil
			writeError(res, 400, "invalid chat request: a JSON object with a model is required")
			return
		}
		last.body = append(last.body[:0], body...)
		last.req = req
	}
	req := last.req
	promptTokens := len(body)/4 + 1
	id := newID("chatcmpl-")
	created := time.Now().Unix()
	if latency > 0 {
		time.Sleep(latency)
	}
	if req.Stream {
		stream(res, req, id, created, promptTokens)
		return
	}
	b := make([]byte, 0, 1024)
	b = append(b, `{"id":"`...)
	b = append(b, id...)
	b = append(b, `","object":"chat.completion","created":`...)
	b = strconv.AppendInt(b, created, 10)
	b = append(b, `,"model":`...)
	b = appendJSONString(b, req.Model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	b = appendJSONString(b, reply)
	b = append(b, `,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"stop"}],"usage":`...)
	b = appendUsage(b, promptTokens, len(words))
	b = append(b, `,"service_tier":"default","system_fingerprint":"fp_fakeupstream"}`...)
	res.start(200, "application/json", len(b), headers(id))
	res.write(b)
}

func stream(res *response, req chatRequest, id string, created int64, promptTokens int) {
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	head := make([]byte, 0, 256)
	head = append(head, `{"id":"`...)
	head = append(head, id...)
	head = append(head, `","object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, created, 10)
	head = append(head, `,"model":`...)
	head = appendJSONString(head, req.Model)
	head = append(head, `,"service_tier":"default","system_fingerprint":"fp_fakeupstream",`...)
	plainHead := head
	if includeUsage {
		head = append(head[:len(head):len(head)], `"usage":null,`...)
	}
	event := func(h []byte, rest string) []byte {
		e := make([]byte, 0, len(h)+len(rest)+10)
		e = append(e, "data: "...)
		e = append(e, h...)
		e = append(e, rest...)
		return append(e, "\n\n"...)
	}
	events := make([][]byte, 0, len(words)+4)
	events = append(events, event(head, `"choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"obfuscation":"x1Yz"}`))
	for _, word := range words {
		quoted, _ := json.Marshal(word)
		events = append(events, event(head, `"choices":[{"index":0,"delta":{"content":`+string(quoted)+`},"logprobs":null,"finish_reason":null}],"obfuscation":"ab"}`))
	}
	events = append(events, event(head, `"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}`))
	if includeUsage {
		usage := string(appendUsage(nil, promptTokens, len(words)))
		events = append(events, event(plainHead, `"choices":[],"usage":`+usage+`,"obfuscation":"zz"}`))
	}
	events = append(events, []byte("data: [DONE]\n\n"))

	res.start(200, "text/event-stream; charset=utf-8", -1, headers(id))
	// Events are due at fixed times from the first: a sleep that overshoots (the runtime's
	// timers wake late on a busy load core) delays one event, not every event after it, so a
	// stream lasts as long whatever client it serves.
	due := time.Now()
	for i, e := range events {
		if chunkInterval > 0 {
			if i > 0 {
				due = due.Add(chunkInterval)
				time.Sleep(time.Until(due))
			}
			res.write(e)
			if res.flush() != nil {
				return
			}
			continue
		}
		res.write(e)
	}
	res.end()
}

func countInputs(raw json.RawMessage) (int, int) {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return 1, len(one)/4 + 1
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return len(many), len(raw)/4 + 1
	}
	return 0, 0
}

func embeddings(res *response, body []byte) {
	var req embeddingsRequest
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		writeError(res, 400, "invalid embeddings request: a JSON object with a model is required")
		return
	}
	n, tokens := countInputs(req.Input)
	if n == 0 {
		writeError(res, 400, "input must be a string or a non-empty array")
		return
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	vector := embedFloats
	if req.EncodingFormat == "base64" {
		vector = embedBase64
	}
	b := make([]byte, 0, 64+n*(len(vector)+64))
	b = append(b, `{"object":"list","data":[`...)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"object":"embedding","index":`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `,"embedding":`...)
		b = append(b, vector...)
		b = append(b, '}')
	}
	b = append(b, `],"model":`...)
	b = appendJSONString(b, req.Model)
	b = append(b, `,"usage":{"prompt_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, int64(tokens), 10)
	b = append(b, `}}`...)
	res.start(200, "application/json", len(b), headers(newID("emb-")))
	res.write(b)
}

func buildEmbedding(dim int) {
	floats := make([]byte, 0, dim*12)
	raw := make([]byte, 4*dim)
	floats = append(floats, '[')
	for i := 0; i < dim; i++ {
		v := float32(math.Sin(float64(i)) / 10)
		if i > 0 {
			floats = append(floats, ',')
		}
		floats = strconv.AppendFloat(floats, float64(v), 'f', -1, 32)
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	embedFloats = append(floats, ']')
	embedBase64 = []byte(`"` + base64.StdEncoding.EncodeToString(raw) + `"`)
}
