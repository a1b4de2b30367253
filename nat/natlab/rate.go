package natlab

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// Link capacity that changes while a lab runs: a test connects a call on
// a clean path, then caps it, then lifts the cap, and watches the sender
// adapt. A cap set before the call would also throttle ICE's checks and
// the DTLS handshake, and the call would start late or on another path.

// Rate caps a link with a token bucket (tbf). The zero value is no cap.
type Rate struct {
	// Kbps is the rate in kbit/s of IP packets (headers included, the
	// Ethernet header not: the figure VoIP bandwidth is quoted in); 0 lifts
	// the cap.
	Kbps int
}

// A capped link queues what waits for tokens for up to rateQueue, and
// drops the rest: a deep queue at a low rate turns a cap into seconds of
// delay instead of loss (tc's usual 1.6 kB is half a second at 24 kbit/s).
// minQueueBytes keeps a queue able to hold a few packets at any rate, so a
// small one is delayed rather than dropped the moment a larger one waits.
const (
	rateQueue     = 100 * time.Millisecond
	minQueueBytes = 600
)

// tbfArgs are tc's arguments for r: a bucket of one full packet (at least
// 10 ms at the rate) and a queue of rateQueue at the rate, sizes counted
// without the 14-byte Ethernet header (a size table's overhead).
func (r Rate) tbfArgs() []string {
	bytesPerSecond := r.Kbps * 1000 / 8
	burst := max(bytesPerSecond/100, 1600)
	limit := max(int(float64(bytesPerSecond)*rateQueue.Seconds()), minQueueBytes)
	return []string{"stab", "overhead", "-14", "tbf", "rate", strconv.Itoa(r.Kbps) + "kbit", "burst", strconv.Itoa(burst), "limit", strconv.Itoa(limit)}
}

// rateLinks are LAN lan's (0-based) ends of its link to the public
// segment: the router's WAN port (upstream traffic leaves there) and the
// public bridge's port to it (downstream).
func (l *Lab) rateLinks(lan int) (up, down [2]string) {
	n := strconv.Itoa(lan + 1)
	return [2]string{l.ns("r" + n), "wan"}, [2]string{l.ns("pub"), "r" + n}
}

// SetRate caps LAN lan's (0-based) link to the public segment at r, each
// way, from now on; Rate{} lifts the cap. It replaces what LAN.RateKbps set.
func (l *Lab) SetRate(ctx context.Context, lan int, r Rate) error {
	if lan < 0 || lan >= len(l.cfg.LANs) {
		return fmt.Errorf("natlab: set rate: no LAN %d", lan)
	}
	if r.Kbps < 0 {
		return fmt.Errorf("natlab: set rate: %d kbit/s: want ≥ 0", r.Kbps)
	}
	up, down := l.rateLinks(lan)
	for _, link := range [][2]string{up, down} {
		var b batch
		if r.Kbps > 0 {
			b.add("ip", append([]string{"netns", "exec", link[0], "tc", "qdisc", "replace", "dev", link[1], "root"}, r.tbfArgs()...)...)
		} else {
			st, err := queueStats(ctx, link)
			if err != nil {
				return err
			}
			if !st.capped {
				continue
			}
			b.add("ip", "netns", "exec", link[0], "tc", "qdisc", "del", "dev", link[1], "root")
		}
		if err := b.run(ctx); err != nil {
			return err
		}
	}
	return nil
}

// QueueStats are a token bucket's counters since its cap was set.
type QueueStats struct {
	Bytes, Packets uint64 // sent on
	Drops          uint64 // packets dropped: the queue was full
	Backlog        uint64 // bytes waiting now
	capped         bool
}

// RateStats returns the counters of LAN lan's (0-based) upstream and
// downstream token buckets; zero where the link is not capped.
func (l *Lab) RateStats(ctx context.Context, lan int) (up, down QueueStats, err error) {
	if lan < 0 || lan >= len(l.cfg.LANs) {
		return up, down, fmt.Errorf("natlab: rate stats: no LAN %d", lan)
	}
	upLink, downLink := l.rateLinks(lan)
	if up, err = queueStats(ctx, upLink); err != nil {
		return up, down, err
	}
	down, err = queueStats(ctx, downLink)
	return up, down, err
}

// queueStats reads the root qdisc of link (namespace, device).
func queueStats(ctx context.Context, link [2]string) (QueueStats, error) {
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", link[0], "tc", "-s", "-j", "qdisc", "show", "dev", link[1], "root").Output()
	if err != nil {
		return QueueStats{}, fmt.Errorf("natlab: tc qdisc show dev %s: %w", link[1], err)
	}
	var qdiscs []struct {
		Kind    string `json:"kind"`
		Bytes   uint64 `json:"bytes"`
		Packets uint64 `json:"packets"`
		Drops   uint64 `json:"drops"`
		Backlog uint64 `json:"backlog"`
	}
	if err := json.Unmarshal(out, &qdiscs); err != nil {
		return QueueStats{}, fmt.Errorf("natlab: tc qdisc show dev %s: %w", link[1], err)
	}
	for _, q := range qdiscs {
		if q.Kind == "tbf" {
			return QueueStats{Bytes: q.Bytes, Packets: q.Packets, Drops: q.Drops, Backlog: q.Backlog, capped: true}, nil
		}
	}
	return QueueStats{}, nil
}
