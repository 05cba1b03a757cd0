package main

// A minimal HTTP/1.1 server: keep-alive, Content-Length or chunked request
// bodies, no pipelining. net/http costs ~40 µs of CPU per request here; this
// costs a fraction, so the fake upstream stays far from being the bottleneck.

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

type request struct {
	method []byte
	path   []byte
	body   []byte
	close  bool
}

type response struct {
	w       *bufio.Writer
	chunked bool
}

var errBadRequest = errors.New("bad request")

func serveConn(conn net.Conn) {
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 32<<10)
	w := bufio.NewWriterSize(conn, 32<<10)
	var body []byte
	var last lastChat
	for {
		req, err := readRequest(r, body[:0])
		if err != nil {
			if errors.Is(err, errBadRequest) {
				writeError(&response{w: w}, 400, "malformed HTTP request")
				_ = w.Flush()
			}
			return
		}
		body = req.body
		route(&response{w: w}, req, &last)
		if w.Flush() != nil || req.close {
			return
		}
	}
}

func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errBadRequest
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func readRequest(r *bufio.Reader, buf []byte) (*request, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	parts := bytes.SplitN(line, []byte(" "), 3)
	if len(parts) != 3 {
		return nil, errBadRequest
	}
	req := &request{method: append([]byte(nil), parts[0]...), path: append([]byte(nil), parts[1]...)}
	if i := bytes.IndexByte(req.path, '?'); i >= 0 {
		req.path = req.path[:i]
	}
	req.close = bytes.Equal(parts[2], []byte("HTTP/1.0"))
	length, chunked := 0, false
	for {
		line, err = readLine(r)
		if err != nil {
			return nil, err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return nil, errBadRequest
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			length, err = strconv.Atoi(string(value))
			if err != nil || length < 0 || length > maxBody {
				return nil, errBadRequest
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("connection")):
			req.close = bytes.EqualFold(value, []byte("close"))
		}
	}
	if chunked {
		req.body, err = readChunked(r, buf)
	} else {
		if cap(buf) < length {
			buf = make([]byte, length)
		}
		req.body = buf[:length]
		_, err = io.ReadFull(r, req.body)
	}
	return req, err
}

func readChunked(r *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 32)
		if err != nil || size < 0 || len(buf)+int(size) > maxBody {
			return nil, errBadRequest
		}
		if size == 0 {
			for { // trailers, up to the empty line
				line, err = readLine(r)
				if err != nil || len(line) == 0 {
					return buf, err
				}
			}
		}
		start := len(buf)
		buf = append(buf, make([]byte, size)...)
		if _, err = io.ReadFull(r, buf[start:]); err != nil {
			return nil, err
		}
		if _, err = readLine(r); err != nil {
			return nil, err
		}
	}
}

// start writes the status line and headers; a body of unknown length (-1) is sent chunked.
func (res *response) start(status int, contentType string, length int, headers []string) {
	w := res.w
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(status))
	w.WriteString(" ")
	w.WriteString(statusText(status))
	w.WriteString("\r\nContent-Type: ")
	w.WriteString(contentType)
	if length >= 0 {
		w.WriteString("\r\nContent-Length: ")
		w.WriteString(strconv.Itoa(length))
	} else {
		res.chunked = true
		w.WriteString("\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		w.WriteString("\r\n")
		w.WriteString(headers[i])
		w.WriteString(": ")
		w.WriteString(headers[i+1])
	}
	w.WriteString("\r\n\r\n")
}

func (res *response) write(data []byte) {
	if !res.chunked {
		res.w.Write(data)
		return
	}
	res.w.WriteString(strconv.FormatInt(int64(len(data)), 16))
	res.w.WriteString("\r\n")
	res.w.Write(data)
	res.w.WriteString("\r\n")
}

func (res *response) end() {
	if res.chunked {
		res.w.WriteString("0\r\n\r\n")
	}
}

func (res *response) flush() error { return res.w.Flush() }

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	}
	return "Status"
}

func listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		if tcp, ok := conn.(*net.TCPConn); ok {
			_ = tcp.SetNoDelay(true)
		}
		go serveConn(conn)
	}
}
