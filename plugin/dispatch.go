package plugin

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// maxAnswerBytes bounds what the plugin reads of an IdP answer; discovery, JWKS and token
// answers are a few KiB.
const maxAnswerBytes = 1 << 20

// answer is the IdP's reply to a dispatched call. err is set when there was no usable
// reply: Envoy's timeout or reset (no headers at all), or an oversized body.
type answer struct {
	status int
	body   []byte
	err    error
}

var (
	errNoAnswer = errors.New("no answer (timeout, connection failure or unknown cluster)")
	// errUnreachable is a gateway's answer rather than the IdP's: Envoy answers a call it
	// could not complete itself, 503 when the connection failed or the cluster has no
	// healthy host and 504 when it timed out (source/common/router/router.cc); a proxy in
	// front of the IdP says 502 or the same.
	errUnreachable = errors.New("the IdP could not be reached")
)

// dispatch sends req to the IdP through the cluster for its host. onAnswer runs in the
// context that called dispatch, if that context still exists when the answer arrives.
func (s *idpState) dispatch(req oidc.Request, onAnswer func(answer)) error {
	return dispatchTo(s.clusterFor(req), s.src.timeout, req, onAnswer)
}

// dispatch sends req to the IdP on behalf of this request and runs onAnswer as one of its
// steps (resume). The SDK delivers an answer to the context that entered the VM when the
// call was made, not to the effective one: a request resumed from the plugin's tick
// (held.go) would otherwise get its answer in the plugin context.
func (h *httpContext) dispatch(req oidc.Request, onAnswer func(answer) types.Action) error {
	return h.rp.idp.dispatch(req, h.inContext(onAnswer))
}

// inContext adapts onAnswer to a step of this request (resume).
func (h *httpContext) inContext(onAnswer func(answer) types.Action) func(answer) {
	return func(a answer) { h.resume(func() types.Action { return onAnswer(a) }) }
}

// clusterFor is the cluster a request to the IdP goes through: the one endpoint_clusters
// names for its host, else the IdP's cluster.
func (s *idpState) clusterFor(req oidc.Request) string {
	if _, authority, _, err := req.Target(); err == nil {
		if c, ok := s.src.hostClusters[hostName(authority)]; ok {
			return c
		}
	}
	return s.src.cluster
}

// dispatchTo sends req through a cluster, with a timeout. A refused call's error says what
// to check (dispatchProblem).
func dispatchTo(cluster string, timeout time.Duration, req oidc.Request, onAnswer func(answer)) error {
	_, authority, path, err := req.Target()
	if err != nil {
		return dispatchProblem(cluster, fmt.Errorf("bad request URL %q: %w", req.URL, err))
	}
	headers := make([][2]string, 0, 4+len(req.Header))
	headers = append(headers,
		[2]string{":method", req.Method},
		[2]string{":path", path},
		[2]string{":authority", authority},
		[2]string{"user-agent", "oidc-wasm"},
	)
	headers = append(headers, req.Header...)
	_, err = proxywasm.DispatchHttpCall(cluster, headers, req.Body, nil, uint32(timeout.Milliseconds()), func(numHeaders, bodySize, _ int) {
		onAnswer(readAnswer(numHeaders, bodySize))
	})
	if err != nil {
		return dispatchProblem(cluster, err)
	}
	return nil
}

func readAnswer(numHeaders, bodySize int) answer {
	if numHeaders == 0 {
		return answer{err: errNoAnswer}
	}
	headers, err := proxywasm.GetHttpCallResponseHeaders()
	if err != nil {
		return answer{err: fmt.Errorf("reading answer headers: %w", err)}
	}
	status := 0
	for _, kv := range headers {
		if kv[0] == ":status" {
			status, _ = strconv.Atoi(kv[1])
		}
	}
	if status == 0 {
		return answer{err: errors.New("answer without a valid :status")}
	}
	if status == 502 || status == 503 || status == 504 {
		return answer{status: status, err: fmt.Errorf("%w (status %d)", errUnreachable, status)}
	}
	if bodySize > maxAnswerBytes {
		return answer{status: status, err: fmt.Errorf("answer body of %d bytes exceeds the %d byte limit", bodySize, maxAnswerBytes)}
	}
	var body []byte
	if bodySize > 0 {
		if body, err = proxywasm.GetHttpCallResponseBody(0, bodySize); err != nil {
			return answer{status: status, err: fmt.Errorf("reading answer body: %w", err)}
		}
	}
	return answer{status: status, body: body}
}

// dispatchProblem explains a refused DispatchHttpCall. Envoy's only word for an unknown
// cluster is "bad argument", which sends operators hunting; say what to check.
func dispatchProblem(cluster string, err error) error {
	return fmt.Errorf("dispatch to cluster %q refused (%w): the cluster must exist in Envoy "+
		"(Istio: a ServiceEntry or Service for the IdP host; the name is outbound|<port>||<host>) "+
		"and the request needs :method, :path and :authority", cluster, err)
}
