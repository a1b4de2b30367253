package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/nat/natlab"
)

// toneCall is a 12 s call of continuous tones from alice on one lab host
// to bob on another, so that any gap in what either hears is the path's.
type toneCall struct {
	dir        string // recordings and stats
	alice, bob *proc
}

// startToneCall makes bob answer and alice call him; flags(user) are
// each one's extra flags.
func startToneCall(t *testing.T, dirAddr string, aliceHost, bobHost natlab.Host, flags func(user string) []string) toneCall {
	t.Helper()
	c := toneCall{dir: t.TempDir()}
	in := func(name string) string { return filepath.Join(c.dir, name) }
	c.bob = startIn(t, bobHost, append([]string{"answer", "--calls", "1", "--user", "bob", "--home", in("bob"),
		"--directory", dirAddr, "--mic", "tone:660", "--speaker", "file:" + in("bob-heard.wav"),
		"--stats", in("bob.json")}, flags("bob")...)...)
	c.bob.await(t, "waiting for calls", 10*time.Second)
	befriend(t, inHost(aliceHost), inHost(bobHost), c.dir, dirAddr)
	c.alice = startIn(t, aliceHost, append([]string{"call", "bob", "--user", "alice", "--home", in("alice"),
		"--directory", dirAddr, "--duration", "12s", "--mic", "tone:440", "--speaker", "file:" + in("alice-heard.wav"),
		"--stats", in("alice.json")}, flags("alice")...)...)
	return c
}

// checkResumed waits for the call to end and checks that each side
// restarted ICE and heard audio again within the goal of 3 s (asserted at
// twice that) after the path failed; it returns alice's and bob's stats.
func (c toneCall) checkResumed(t *testing.T) []call.Stats {
	t.Helper()
	if err := c.alice.wait(t, 40*time.Second); err != nil {
		t.Fatalf("parley call: %v\n%s", err, c.alice.stderr.String())
	}
	if err := c.bob.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, c.bob.stderr.String())
	}
	var all []call.Stats
	for _, who := range []string{"alice", "bob"} {
		st := readStats(t, filepath.Join(c.dir, who+".json"))
		if len(st) != 1 {
			t.Fatalf("%s: %d stats lines, want 1", who, len(st))
		}
		s := st[0]
		gap := longestGap(t, filepath.Join(c.dir, who+"-heard.wav"))
		t.Logf("%s: end %s, path %s %s/%s relay %q, ice_restarts %d, longest audio gap %v",
			who, s.EndReason, s.Path, s.LocalCandidateType, s.RemoteCandidateType, s.RelayAddr, s.ICERestarts, gap)
		if s.ICERestarts < 1 {
			t.Errorf("%s: ice_restarts %d, want ≥ 1", who, s.ICERestarts)
		}
		if gap > 6*time.Second {
			t.Errorf("%s heard a gap of %v, want ≤ 6 s", who, gap)
		}
		all = append(all, s)
	}
	return all
}

// TestNATGridAddressChange renumbers alice's router in the middle of a
// direct call between two cone NATs, as an ISP or a move to another
// network does: the path dies, the call restarts ICE, and audio resumes.
func TestNATGridAddressChange(t *testing.T) {
	if testing.Short() {
		t.Skip("NAT lab calls skipped in -short mode")
	}
	if err := natlab.Available(); err != nil {
		t.Skip(err.Error())
	}
	cone := natlab.LAN{NAT: natlab.Cone}
	lab := newGridLab(t, natlab.Config{Prefix: "pgwan", LANs: []natlab.LAN{cone, cone}})
	dirAddr := startGridDirectory(t, lab)
	startSupernodeIn(t, lab, 0)
	c := startToneCall(t, dirAddr, lab.Host(0, 0), lab.Host(1, 0), func(string) []string { return []string{"--log-level", "info"} })

	time.Sleep(5 * time.Second)
	old := lab.WAN(0)
	next, err := lab.ChangeWAN(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alice's router renumbered from %v to %v", old, next)
	c.checkResumed(t)
}
