package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-voip/parley/nat/natlab"
)

// TestNATGridAddressChange renumbers alice's router in the middle of a
// direct call between two cone NATs, as an ISP or a move to another
// network does: the path dies, the call restarts ICE, and audio resumes
// within the goal of 3 s (asserted at twice that).
func TestNATGridAddressChange(t *testing.T) {
	if testing.Short() {
		t.Skip("NAT lab calls skipped in -short mode")
	}
	if err := natlab.Available(); err != nil {
		t.Skip(err.Error())
	}
	cone := natlab.LAN{NAT: natlab.Cone}
	lab := newGridLab(t, natlab.Config{Prefix: "pgwan", LANs: []natlab.LAN{cone, cone}})
	dir := t.TempDir()
	dirAddr := startGridDirectory(t, lab)
	startSupernodeIn(t, lab, 0)

	// Continuous tones, so that any gap in what arrives is the path's.
	bob := startIn(t, lab.Host(1, 0), "answer", "--calls", "1", "--user", "bob", "--home", filepath.Join(dir, "bob"),
		"--directory", dirAddr, "--mic", "tone:660", "--speaker", "file:"+filepath.Join(dir, "bob-heard.wav"),
		"--stats", filepath.Join(dir, "bob.json"), "--log-level", "info")
	bob.await(t, "waiting for calls", 10*time.Second)
	befriend(t, inHost(lab.Host(0, 0)), inHost(lab.Host(1, 0)), dir, dirAddr)
	alice := startIn(t, lab.Host(0, 0), "call", "bob", "--user", "alice", "--home", filepath.Join(dir, "alice"),
		"--directory", dirAddr, "--duration", "12s", "--mic", "tone:440",
		"--speaker", "file:"+filepath.Join(dir, "alice-heard.wav"), "--stats", filepath.Join(dir, "alice.json"), "--log-level", "info")

	time.Sleep(5 * time.Second)
	old := lab.WAN(0)
	next, err := lab.ChangeWAN(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alice's router renumbered from %v to %v", old, next)

	if err := alice.wait(t, 40*time.Second); err != nil {
		t.Fatalf("parley call: %v\n%s", err, alice.stderr.String())
	}
	if err := bob.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, bob.stderr.String())
	}
	for _, who := range []string{"alice", "bob"} {
		st := readStats(t, filepath.Join(dir, who+".json"))
		if len(st) != 1 {
			t.Fatalf("%s: %d stats lines, want 1", who, len(st))
		}
		s := st[0]
		gap := longestGap(t, filepath.Join(dir, who+"-heard.wav"))
		t.Logf("%s: end %s, path %s %s/%s, ice_restarts %d, longest audio gap %v", who, s.EndReason, s.Path, s.LocalCandidateType, s.RemoteCandidateType, s.ICERestarts, gap)
		if s.ICERestarts < 1 {
			t.Errorf("%s: ice_restarts %d, want ≥ 1", who, s.ICERestarts)
		}
		if gap > 6*time.Second {
			t.Errorf("%s heard a gap of %v, want ≤ 6 s", who, gap)
		}
	}
}
