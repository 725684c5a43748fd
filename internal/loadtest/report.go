package loadtest

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Report is what a run found.
type Report struct {
	Options
	LoginTime, TrafficTime time.Duration

	Requests        int         // answered
	Statuses        map[int]int // every answer's status
	Served          int64       // requests the upstream served
	Unauthenticated int64       // of which without the plugin's identity, or marked as attacks
	Outage503       int         // 503 while the IdP was down or restarting (documented)
	Storm503        int         // 503 while the storm's requests were out, the IdP up
	Other503        int         // 503 at any other time
	Other5xx        int
	Transport       int // requests without an answer
	SessionsLost    int
	StormLost       int

	RefreshTokens     int // distinct refresh tokens presented
	TwiceInOneReplica int // tokens one replica presented more than once, each time answered
	AfterNoAnswer     int // tokens presented again after the IdP died with one in hand
	AcrossReplicas    int // tokens presented by more than one replica
	RefreshRefused    int // refresh answers other than 200

	Memory []VMMemory
}

// VMMemory is one VM's linear memory after the logins, once the load is under way (a quarter
// of its requests sent: its caches filled), and at the end. Flat is the end against the second.
type VMMemory struct {
	Replica, Worker         int
	AfterLogins, Start, End uint32
}

type memoryPoint int

const (
	afterLogins memoryPoint = iota
	underWay
	atEnd
)

func (r *Report) memory(replicas []*replica, at memoryPoint) {
	i := 0
	for k, rep := range replicas {
		for _, vm := range rep.host.Workers() {
			size, _ := vm.MemoryBytes()
			switch at {
			case afterLogins:
				r.Memory = append(r.Memory, VMMemory{Replica: k, Worker: vm.Index(), AfterLogins: size})
			case underWay:
				r.Memory[i].Start = size
			case atEnd:
				r.Memory[i].End = size
			}
			i++
		}
	}
}

func (r *Report) collect(t *traffic, a *app, counts *redemptions, replicas []*replica) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r.Statuses = t.statuses
	for _, n := range t.statuses {
		r.Requests += n
	}
	r.Served, r.Unauthenticated = a.served.Load(), a.unauthenticated.Load()
	r.Outage503, r.Storm503, r.Other503, r.Other5xx, r.Transport = t.outage503, t.storm503, t.other503, t.other5xx, t.transport
	r.SessionsLost, r.StormLost = t.lost, t.stormLost
	n := counts.tally()
	r.RefreshTokens, r.TwiceInOneReplica, r.AfterNoAnswer, r.AcrossReplicas, r.RefreshRefused = n.tokens, n.twiceInOneReplica, n.afterNoAnswer, n.acrossReplicas, n.refused
}

// Target is one of the load targets of issue 16, met or not.
type Target struct {
	Name, Figure string
	Met          bool
}

// Targets evaluates the run against the load targets.
func (r *Report) Targets() []Target {
	var out []Target
	add := func(name, figure string, ok bool) { out = append(out, Target{name, figure, ok}) }
	add("no request let through without a valid credential", fmt.Sprintf("%d of %d served", r.Unauthenticated, r.Served), r.Unauthenticated == 0)
	add("no refresh token redeemed twice within one replica", fmt.Sprintf("%d of %d tokens", r.TwiceInOneReplica, r.RefreshTokens), r.TwiceInOneReplica == 0)
	add("no 5xx other than the documented 503s while the IdP is down",
		fmt.Sprintf("%d other 5xx; 503 while the IdP was up: %d during the storm, %d otherwise; %d without an answer",
			r.Other5xx, r.Storm503, r.Other503, r.Transport),
		r.Other5xx == 0 && r.Storm503 == 0 && r.Other503 == 0 && r.Transport == 0)
	worst := 0.0
	for _, m := range r.Memory {
		if ratio := float64(m.End) / float64(m.Start); ratio > worst {
			worst = ratio
		}
	}
	add("memory per VM flat (end ≤ 1.2× once under way)", fmt.Sprintf("worst VM %.2f×", worst), worst <= 1.2)
	if r.Replicas == 1 {
		add("no session lost", fmt.Sprintf("%d of %d", r.SessionsLost, r.Sessions), r.SessionsLost == 0)
	} else {
		add("sessions a refresh storm loses across replicas ≤ 1 in 1000", fmt.Sprintf("%d of %d storm sessions (%d lost in the whole run)", r.StormLost, r.Storm, r.SessionsLost),
			r.StormLost*1000 <= r.Storm)
	}
	return out
}

// Markdown renders the report.
func (r *Report) Markdown(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", title)
	front := "round robin per request"
	if r.Affinity {
		front = "each session kept on one replica"
	}
	fmt.Fprintf(&b, "%d replica(s) of %d worker VMs (front: %s); %d sessions logged in at oidc-provider in %s; %d requests from %d concurrent clients in %s "+
		"(%.0f requests/s); tokens live %s; refresh storm: %d sessions, two requests each at once; IdP killed for %s; signing key rotated: %v.\n\n",
		r.Replicas, r.Workers, front, r.Sessions, r.LoginTime.Round(time.Second), r.Requests, r.Clients, r.TrafficTime.Round(time.Second),
		float64(r.Requests)/r.TrafficTime.Seconds(), r.TokenTTL, r.Storm, r.Outage, r.Rotate)
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d: %d", c, r.Statuses[c]))
	}
	fmt.Fprintf(&b, "Answers by status: %s. The upstream served %d, %d of them without the plugin's identity or marked as attacks. "+
		"503s: %d while the IdP was down or restarting, %d during the storm, %d otherwise. Sessions lost: %d (%d of the storm's). "+
		"Refresh tokens presented: %d distinct; %d presented twice by one replica (and %d again after the IdP died with them in hand), "+
		"%d by two replicas; %d refresh answers refused.\n\n",
		strings.Join(parts, ", "), r.Served, r.Unauthenticated, r.Outage503, r.Storm503, r.Other503, r.SessionsLost, r.StormLost,
		r.RefreshTokens, r.TwiceInOneReplica, r.AfterNoAnswer, r.AcrossReplicas, r.RefreshRefused)
	b.WriteString("| VM | memory after the logins | a quarter of the requests in | at the end |\n|---|---|---|---|\n")
	for _, m := range r.Memory {
		fmt.Fprintf(&b, "| replica %d, worker %d | %s | %s | %s |\n", m.Replica, m.Worker, mib(m.AfterLogins), mib(m.Start), mib(m.End))
	}
	b.WriteString("\n| target | figure | |\n|---|---|---|\n")
	for _, t := range r.Targets() {
		status := "met"
		if !t.Met {
			status = "**not met**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Name, t.Figure, status)
	}
	b.WriteString("\n")
	return b.String()
}

func mib(b uint32) string { return fmt.Sprintf("%.2f MiB", float64(b)/(1<<20)) }
