package plugin

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strconv"
	"time"

	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm"
	"github.com/proxy-wasm/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/oidc-wasm/oidc-wasm/oidc"
)

// Refresh coordination across Envoy's worker VMs (see refresh.go). Shared data has no
// delete, so a key per refresh token would grow without bound; instead a fixed set of slots
// (picked by the token's hash) each holds a small table of entries keyed by the token's whole
// SHA-256: one token's entry is never mistaken for, nor overwritten by, another's. Every
// change reads the slot, changes only its own entry, and writes it back with compare-and-
// swap; a VM that loses the race reads again at the next tick. Entries carry a deadline and
// are dropped once it passes, which bounds both a slot's size and how long a VM that died
// mid-refresh blocks the others.
//
// An entry says one of:
//   - pending: a VM is refreshing the token now; the others wait for its result;
//   - done: the renewed session, sealed for the share window and bound (additional data) to
//     the token's hash, which the others adopt instead of refreshing again;
//   - failed: the refresh failed; the others may try themselves.
const (
	refreshSlots       = 1024
	refreshSlotPrefix  = "oidc-wasm/refresh-v2/" // v2: releases before used one marker per slot
	refreshSlotEntries = 16
	refreshShareWindow = 30 * time.Second
	refreshFailedTTL   = 5 * time.Second
	refreshKeySize     = 32
)

type refreshMarker byte

const (
	refreshPending refreshMarker = 'p'
	refreshDone    refreshMarker = 'd'
	refreshFailed  refreshMarker = 'f'
)

// refreshEntry is one token's state in a slot.
type refreshEntry struct {
	key      [refreshKeySize]byte
	marker   refreshMarker
	deadline int64  // unix milliseconds; the entry is gone after it
	body     string // done: the renewed session, sealed (sharePurpose)
}

// refreshSlot is a slot as read, with the CAS to write it back with.
type refreshSlot struct {
	name    string
	entries []refreshEntry // live entries only
	cas     uint32
}

func refreshSlotKey(key [refreshKeySize]byte) string {
	return refreshSlotName((int(key[0])<<8 | int(key[1])) % refreshSlots)
}

func refreshSlotName(i int) string { return refreshSlotPrefix + strconv.Itoa(i) }

// createRefreshSlots makes every slot exist before this VM serves a request, so that claims
// are always written against a CAS (see put). A slot that exists is left as it is: only the
// first VM of the process creates them.
func createRefreshSlots() {
	for i := 0; i < refreshSlots; i++ {
		name := refreshSlotName(i)
		if _, _, err := proxywasm.GetSharedData(name); errors.Is(err, types.ErrorStatusNotFound) {
			if err := proxywasm.SetSharedData(name, nil, 0); err != nil {
				proxywasm.LogWarnf("oidc-wasm: shared data %s: %v", name, err)
			}
		}
	}
}

// readRefreshSlot reads the slot of key, keeping only live entries. An unreadable value
// (another plugin build, a bug) reads as empty: it is only ever this plugin's own data.
func readRefreshSlot(key [refreshKeySize]byte, now time.Time) refreshSlot {
	s := refreshSlot{name: refreshSlotKey(key)}
	value, cas, err := proxywasm.GetSharedData(s.name)
	if err != nil && !errors.Is(err, types.ErrorStatusNotFound) {
		proxywasm.LogWarnf("oidc-wasm: shared data %s: %v", s.name, err)
	}
	s.cas = cas
	entries, _ := decodeRefreshSlot(value)
	for _, e := range entries {
		if e.deadline > now.UnixMilli() {
			s.entries = append(s.entries, e)
		}
	}
	return s
}

// find returns key's entry, or nil.
func (s *refreshSlot) find(key [refreshKeySize]byte) *refreshEntry {
	for i := range s.entries {
		if s.entries[i].key == key {
			return &s.entries[i]
		}
	}
	return nil
}

// put writes e as its key's entry, leaving every other entry as it is. It reports false,
// writing nothing, when the slot is full of other tokens' live entries, when another VM
// wrote the slot since it was read (CAS mismatch), or when the slot did not exist yet (it is
// created empty): the caller looks again at the next tick.
func (s *refreshSlot) put(e refreshEntry) bool {
	if s.cas == 0 {
		// Not created yet (createRefreshSlots normally has). A write with CAS 0 is
		// unconditional (Envoy's SharedData::set), so two VMs that both read the slot missing
		// would both claim the token and both redeem it. Create the slot empty instead; the
		// claim is made at the next tick, against the CAS it then has (never 0 once it exists).
		if err := proxywasm.SetSharedData(s.name, nil, 0); err != nil {
			proxywasm.LogWarnf("oidc-wasm: shared data %s: %v", s.name, err)
		}
		return false
	}
	entries := make([]refreshEntry, 0, len(s.entries)+1)
	for _, old := range s.entries {
		if old.key != e.key {
			entries = append(entries, old)
		}
	}
	if len(entries) >= refreshSlotEntries {
		return false
	}
	entries = append(entries, e)
	err := proxywasm.SetSharedData(s.name, encodeRefreshSlot(entries), s.cas)
	if err != nil && !errors.Is(err, types.ErrorStatusCasMismatch) {
		proxywasm.LogWarnf("oidc-wasm: shared data %s: %v", s.name, err)
	}
	return err == nil
}

// publishRefresh records the outcome of this VM's refresh of key for the others, retrying
// a few times when other VMs write the same slot meanwhile.
func (rp *relyingParty) publishRefresh(key [refreshKeySize]byte, sess *oidc.Session) {
	now := rp.env.now()
	e := refreshEntry{key: key, marker: refreshFailed, deadline: now.Add(refreshFailedTTL).UnixMilli()}
	if sess != nil {
		body, err := rp.sealShared(key, sess, now)
		if err != nil {
			proxywasm.LogWarnf("oidc-wasm: cannot share a refreshed session: %v", err)
		} else {
			e = refreshEntry{key: key, marker: refreshDone, deadline: now.Add(refreshShareWindow).UnixMilli(), body: body}
		}
	}
	for attempt := 0; attempt < 3; attempt++ {
		slot := readRefreshSlot(key, now)
		if slot.put(e) {
			return
		}
	}
	proxywasm.LogWarnf("oidc-wasm: could not publish a refresh outcome for the other worker VMs (slot %s busy)", refreshSlotKey(key))
}

// sharePurpose binds a shared result to the token it renews: a result published under one
// token's entry never opens as another's.
func (rp *relyingParty) sharePurpose(key [refreshKeySize]byte) string {
	return rp.purposeSession + " refresh " + hex.EncodeToString(key[:])
}

func (rp *relyingParty) sealShared(key [refreshKeySize]byte, sess *oidc.Session, now time.Time) (string, error) {
	plain, err := sess.MarshalBinary()
	if err != nil {
		return "", err
	}
	return rp.sealer.Seal(rp.env.random, rp.sharePurpose(key), now.Add(refreshShareWindow), plain)
}

// adoptShared opens a session another VM published for key.
func (rp *relyingParty) adoptShared(key [refreshKeySize]byte, sealed string) *oidc.Session {
	plain, err := rp.sealer.Open(rp.sharePurpose(key), sealed, rp.env.now())
	if err != nil {
		return nil
	}
	var sess oidc.Session
	if sess.UnmarshalBinary(plain) != nil {
		return nil
	}
	return &sess
}

// encodeRefreshSlot writes entries as key (32 bytes), marker (1), deadline (8, big endian),
// body length (4, big endian), body, one after another.
func encodeRefreshSlot(entries []refreshEntry) []byte {
	var out []byte
	for _, e := range entries {
		out = append(out, e.key[:]...)
		out = append(out, byte(e.marker))
		out = binary.BigEndian.AppendUint64(out, uint64(e.deadline))
		out = binary.BigEndian.AppendUint32(out, uint32(len(e.body)))
		out = append(out, e.body...)
	}
	return out
}

// decodeRefreshSlot reads what encodeRefreshSlot wrote; ok is false for anything else.
func decodeRefreshSlot(v []byte) (entries []refreshEntry, ok bool) {
	const head = refreshKeySize + 1 + 8 + 4
	for len(v) > 0 {
		if len(v) < head {
			return nil, false
		}
		var e refreshEntry
		copy(e.key[:], v)
		e.marker = refreshMarker(v[refreshKeySize])
		e.deadline = int64(binary.BigEndian.Uint64(v[refreshKeySize+1:]))
		n := binary.BigEndian.Uint32(v[refreshKeySize+9:])
		if uint64(n) > uint64(len(v)-head) || len(entries) >= refreshSlotEntries {
			return nil, false
		}
		e.body = string(v[head : head+int(n)])
		v = v[head+int(n):]
		switch e.marker {
		case refreshPending, refreshDone, refreshFailed:
		default:
			return nil, false
		}
		entries = append(entries, e)
	}
	return entries, true
}
