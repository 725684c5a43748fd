package proxyhost

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// headerMap is an HTTP header map with the semantics of Envoy's HeaderMapImpl
// (source/common/http/header_map_impl.cc): names are lower-cased, order is kept, add appends
// an entry (a repeated name is a second entry, never a joined value), replace (setCopy)
// removes every entry of the name and appends one, remove removes every entry.
type headerMap struct {
	pairs [][2]string
}

func (m *headerMap) add(key, value string) {
	m.pairs = append(m.pairs, [2]string{strings.ToLower(key), value})
}

func (m *headerMap) remove(key string) {
	key = strings.ToLower(key)
	out := m.pairs[:0]
	for _, kv := range m.pairs {
		if kv[0] != key {
			out = append(out, kv)
		}
	}
	clear(m.pairs[len(out):])
	m.pairs = out
}

func (m *headerMap) replace(key, value string) {
	m.remove(key)
	m.add(key, value)
}

// pairsSize is the size of the ABI's serialized form of pairs: a count, then each key and
// value length, then each key and value followed by a NUL (proxy-wasm-cpp-host's
// src/pairs_util.cc).
func pairsSize(pairs [][2]string) int {
	n := 4 + 8*len(pairs)
	for _, kv := range pairs {
		n += len(kv[0]) + len(kv[1]) + 2
	}
	return n
}

// marshalPairs writes pairs into dst, which is exactly pairsSize(pairs) long.
func marshalPairs(dst []byte, pairs [][2]string) {
	binary.LittleEndian.PutUint32(dst, uint32(len(pairs)))
	sizes := dst[4:]
	data := dst[4+8*len(pairs):]
	for i, kv := range pairs {
		binary.LittleEndian.PutUint32(sizes[8*i:], uint32(len(kv[0])))
		binary.LittleEndian.PutUint32(sizes[8*i+4:], uint32(len(kv[1])))
		n := copy(data, kv[0])
		data[n] = 0
		data = data[n+1:]
		n = copy(data, kv[1])
		data[n] = 0
		data = data[n+1:]
	}
}

var errBadPairs = errors.New("malformed serialized header pairs")

// unmarshalPairs reads serialized pairs, copying every string out of src (guest memory, which
// the module may reuse once the call returns). Empty input is no pairs.
func unmarshalPairs(src []byte) ([][2]string, error) {
	if len(src) == 0 {
		return nil, nil
	}
	if len(src) < 4 {
		return nil, errBadPairs
	}
	n := int(binary.LittleEndian.Uint32(src))
	if n > (len(src)-4)/8 {
		return nil, errBadPairs
	}
	sizes := src[4:]
	data := src[4+8*n:]
	out := make([][2]string, n)
	for i := range out {
		for j := 0; j < 2; j++ {
			size := int(binary.LittleEndian.Uint32(sizes[8*i+4*j:]))
			if size+1 > len(data) || data[size] != 0 {
				return nil, errBadPairs
			}
			out[i][j] = string(data[:size])
			data = data[size+1:]
		}
	}
	return out, nil
}

// localReplyHeaders builds a local reply's headers the way Envoy's Utility::prepareLocalReply
// does (source/common/http/utility.cc): ":status", then the plugin's headers, each added as
// its own entry; with a body, content-length, and content-type text/plain unless the plugin
// gave one; without a body, neither.
func localReplyHeaders(status uint32, extra [][2]string, body []byte) [][2]string {
	m := headerMap{pairs: make([][2]string, 0, len(extra)+3)}
	m.add(":status", strconv.FormatUint(uint64(status), 10))
	for _, kv := range extra {
		m.add(kv[0], kv[1])
	}
	if len(body) == 0 {
		m.remove("content-length")
		m.remove("content-type")
		return m.pairs
	}
	m.replace("content-length", strconv.Itoa(len(body)))
	if !m.has("content-type") {
		m.add("content-type", "text/plain")
	}
	return m.pairs
}

func (m *headerMap) has(key string) bool {
	for _, kv := range m.pairs {
		if kv[0] == key {
			return true
		}
	}
	return false
}
