package plugin

// heldRequests are the requests of one relying party paused until the IdP's metadata is
// loaded, or has failed to load (idp.go).
type heldRequests struct {
	waiting map[uint32]*waiter // by http context id
	order   []uint32           // ids in arrival order, so they resume first come first served
}

// waiter is a request held until the IdP's metadata is loaded (or has failed to load).
type waiter struct {
	resume func(ok bool)
}

// maxWaiting bounds the requests held while metadata loads; beyond it requests get 503 at
// once instead of piling up in memory while the IdP is slow.
const maxWaiting = 1024

// hold parks a request until the next metadata fetch settles. It reports false when the
// queue is full; the caller then answers 503.
func (q *heldRequests) hold(id uint32, resume func(ok bool)) bool {
	if _, ok := q.waiting[id]; ok {
		q.waiting[id] = &waiter{resume: resume}
		return true
	}
	if len(q.waiting) >= maxWaiting {
		return false
	}
	q.waiting[id] = &waiter{resume: resume}
	q.order = append(q.order, id)
	return true
}

// forget drops a held request whose stream has ended.
func (q *heldRequests) forget(id uint32) { delete(q.waiting, id) }

// release resumes every held request, in arrival order (each in its own context: resume).
func (q *heldRequests) release(ok bool) {
	order := q.order
	q.order = nil
	for _, id := range order {
		w, held := q.waiting[id]
		if !held {
			continue
		}
		delete(q.waiting, id)
		w.resume(ok)
	}
}
