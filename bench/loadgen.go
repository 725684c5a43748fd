package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one closed-loop run: conns connections, each sending its next request as
// soon as the previous answer is read.
type loadResult struct {
	requests   int
	failures   int // transport errors and answers with another status than expected
	throughput float64
	p50, p99   time.Duration
}

// runLoad sends req (a complete HTTP/1.1 request) over conns keep-alive connections to addr:
// warm-up first, then d measured. The client is a few lines over a socket, not net/http, so
// that its own cost (which shares the machine's cores with the gateway) stays small and the
// same for every arrangement.
func runLoad(addr string, req []byte, conns int, warm, d time.Duration, want int) (loadResult, error) {
	var measuring, stop atomic.Bool
	var wg sync.WaitGroup
	lat := make([][]time.Duration, conns)
	fails := make([]int, conns)
	errs := make(chan error, conns)
	for c := 0; c < conns; c++ {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			stop.Store(true)
			wg.Wait()
			return loadResult{}, fmt.Errorf("connecting to %s: %w", addr, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 32<<10)
			for !stop.Load() {
				t0 := time.Now()
				if _, err := conn.Write(req); err != nil {
					errs <- err
					return
				}
				status, err := readResponse(br)
				if err != nil {
					errs <- err
					return
				}
				if measuring.Load() {
					lat[c] = append(lat[c], time.Since(t0))
					if status != want {
						fails[c]++
					}
				}
			}
		}()
	}
	time.Sleep(warm)
	measuring.Store(true)
	t0 := time.Now()
	time.Sleep(d)
	measuring.Store(false)
	elapsed := time.Since(t0)
	stop.Store(true)
	wg.Wait()
	select {
	case err := <-errs:
		return loadResult{}, err
	default:
	}
	var all []time.Duration
	res := loadResult{}
	for c := range lat {
		all = append(all, lat[c]...)
		res.failures += fails[c]
	}
	if len(all) == 0 {
		return res, errors.New("no request completed")
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	res.requests = len(all)
	res.throughput = float64(len(all)) / elapsed.Seconds()
	res.p50, res.p99 = all[len(all)/2], all[len(all)*99/100]
	return res, nil
}

// rawGet is a keep-alive GET with the given header lines.
func rawGet(host, path string, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n")
	return []byte(b.String())
}

// readResponse reads one response and returns its status; the body is read and dropped
// (Content-Length or chunked).
func readResponse(br *bufio.Reader) (int, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return 0, err
	}
	parts := strings.SplitN(line, " ", 3)
	if len(parts) < 2 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked := 0, false
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if h == "\r\n" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			length, _ = strconv.Atoi(value)
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		}
	}
	if !chunked {
		_, err := br.Discard(length)
		return status, err
	}
	for {
		size, err := br.ReadString('\n')
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(size), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("bad chunk size %q", size)
		}
		if _, err := io.CopyN(io.Discard, br, n+2); err != nil {
			return 0, err
		}
		if n == 0 {
			return status, nil
		}
	}
}
