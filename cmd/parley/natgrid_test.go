package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parley-voip/parley/call"
	"github.com/parley-voip/parley/nat"
	"github.com/parley-voip/parley/nat/natlab"
)

// The NAT grid: real parley processes in network namespaces behind real
// kernel NATs (nat/natlab), with the directory and a supernode on the
// "public" segment. Each case asserts the path ICE chose and that speech
// arrived both ways.

const gridSecret = "grid-secret"

// newGridLab builds a lab for one test and removes it when the test ends
// (after the processes, whose cleanups run first).
func newGridLab(t *testing.T, cfg natlab.Config) *natlab.Lab {
	t.Helper()
	lab, err := natlab.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Error(err)
		}
	})
	return lab
}

// startIn runs a parley process in h's namespace.
func startIn(t *testing.T, h natlab.Host, args ...string) *proc {
	t.Helper()
	parleyBinary(t) // build outside the namespace's thread
	var p *proc
	if err := h.Do(func() error { p = startParley(t, args...); return nil }); err != nil {
		t.Fatal(err)
	}
	return p
}

// iceFlags are a client's ICE servers: the supernodes at addrs, for STUN
// and for TURN over UDP and TCP, with credentials for user.
func iceFlags(user string, addrs ...string) []string {
	username, password := nat.TURNCredentials(gridSecret, user, time.Now(), time.Hour)
	var flags []string
	for _, a := range addrs {
		flags = append(flags, "--ice-server", "stun:"+a)
		for _, transport := range []string{"udp", "tcp"} {
			flags = append(flags, "--ice-server", "turn:"+a+"?transport="+transport,
				"--ice-username", username, "--ice-credential", password)
		}
	}
	return flags
}

// startSupernodeIn runs 'parley supernode' on the public namespace's
// address i and returns its host:port.
func startSupernodeIn(t *testing.T, lab *natlab.Lab, i int) (string, *proc) {
	t.Helper()
	addr := lab.PublicAddr(i).String() + ":3478"
	p := startIn(t, lab.Public(), "supernode", "--listen", addr, "--public-ip", lab.PublicAddr(i).String(),
		"--auth-secret", gridSecret, "--log-level", "warn")
	p.await(t, "supernode listening", 10*time.Second)
	return addr, p
}

// gridCall is one call between alice and bob, each on a lab host.
type gridCall struct {
	alice, bob           call.Stats
	aliceHeard, bobHeard float64 // correlation with the speech sent
}

func TestNATGrid(t *testing.T) {
	if testing.Short() {
		t.Skip("NAT lab calls skipped in -short mode")
	}
	if err := natlab.Available(); err != nil {
		t.Skip(err.Error())
	}
	cone, sym, blocked := natlab.LAN{NAT: natlab.Cone}, natlab.LAN{NAT: natlab.Symmetric}, natlab.LAN{NAT: natlab.UDPBlocked}
	tests := []struct {
		name string
		lans []natlab.LAN
		// alice on LAN 0 host 0; bob on LAN 1 host 0, or on LAN 0 host 1
		// when there is one LAN.
		wantPath string // "" records whatever ICE found
		// wantLocal and wantRemote are the candidate types either side may
		// report for its end and the other's (pion pairs a server-reflexive
		// candidate through its host base; a peer whose checks come before
		// its candidates is peer-reflexive).
		wantLocal, wantRemote []string
	}{
		{"cone-to-cone-goes-direct", []natlab.LAN{cone, cone}, "direct", []string{"host", "srflx"}, []string{"srflx", "prflx"}},
		{"cone-to-symmetric-is-recorded", []natlab.LAN{cone, sym}, "", nil, nil},
		{"symmetric-to-symmetric-is-relayed", []natlab.LAN{sym, sym}, "relay", []string{"host", "srflx", "relay"}, []string{"srflx", "prflx", "relay"}},
		{"udp-blocked-relays-over-tcp", []natlab.LAN{blocked, cone}, "relay", []string{"host", "srflx", "relay"}, []string{"srflx", "prflx", "relay"}},
		{"same-lan-goes-host-to-host", []natlab.LAN{{NAT: natlab.Cone, Hosts: 2}}, "direct", []string{"host"}, []string{"host", "prflx"}},
	}
	var table []string
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lab := newGridLab(t, natlab.Config{Prefix: fmt.Sprintf("pg%d", i), LANs: tt.lans})
			var bobHost natlab.Host
			if len(tt.lans) > 1 {
				bobHost = lab.Host(1, 0)
			} else {
				bobHost = lab.Host(0, 1)
			}
			res := runGridCall(t, lab, lab.Host(0, 0), bobHost)
			row := fmt.Sprintf("%-36s alice %s %s/%s setup %4.0f ms | bob %s %s/%s setup %4.0f ms",
				tt.name, res.alice.Path, res.alice.LocalCandidateType, res.alice.RemoteCandidateType, res.alice.SetupMS,
				res.bob.Path, res.bob.LocalCandidateType, res.bob.RemoteCandidateType, res.bob.SetupMS)
			table = append(table, row)
			t.Log(row)
			for _, st := range []call.Stats{res.alice, res.bob} {
				// Twice the goals of dial → audio: 300 ms direct, 800 ms
				// relayed (pion's default relay wait alone takes 2 s).
				limit := 600.0
				if st.Path == "relay" {
					limit = 1600
				}
				if st.SetupMS <= 0 || st.SetupMS > limit {
					t.Errorf("%s's setup took %.0f ms on a %s path, want ≤ %.0f ms", st.Direction, st.SetupMS, st.Path, limit)
				}
				if tt.wantPath != "" && st.Path != tt.wantPath {
					t.Errorf("%s's path is %q, want %q", st.Direction, st.Path, tt.wantPath)
				}
				if tt.wantLocal != nil && (!slices.Contains(tt.wantLocal, st.LocalCandidateType) || !slices.Contains(tt.wantRemote, st.RemoteCandidateType)) {
					t.Errorf("%s's candidates %s/%s, want local among %v, remote among %v",
						st.Direction, st.LocalCandidateType, st.RemoteCandidateType, tt.wantLocal, tt.wantRemote)
				}
			}
		})
	}
	t.Logf("NAT grid paths:\n%s", strings.Join(table, "\n"))
}

// runGridCall runs a directory and a supernode on the lab's public segment,
// bob answering on bobHost and alice calling him from aliceHost, and checks
// that each heard the other.
func runGridCall(t *testing.T, lab *natlab.Lab, aliceHost, bobHost natlab.Host) gridCall {
	t.Helper()
	dir := t.TempDir()
	aPath, speechA48 := speechFile(t, dir, "a.wav", speechA, "en")
	bPath, speechB48 := speechFile(t, dir, "b.wav", speechB, "en+f3")

	dirAddr := lab.PublicAddr(0).String() + ":8478"
	startIn(t, lab.Public(), "directory", "--listen", dirAddr, "--data", filepath.Join(dir, "directory")).
		await(t, "directory listening on", 10*time.Second)
	snAddr, _ := startSupernodeIn(t, lab, 0)

	bob := startIn(t, bobHost, append([]string{"answer", "--calls", "1", "--user", "bob",
		"--home", filepath.Join(dir, "bob"), "--directory", dirAddr, "--mic", "file:" + bPath,
		"--speaker", "file:" + filepath.Join(dir, "bob-heard.wav"), "--stats", filepath.Join(dir, "bob.json")},
		iceFlags("bob", snAddr)...)...)
	bob.await(t, "waiting for calls", 10*time.Second)
	alice := startIn(t, aliceHost, append([]string{"call", "bob", "--user", "alice",
		"--home", filepath.Join(dir, "alice"), "--directory", dirAddr, "--duration", "7s", "--mic", "file:" + aPath,
		"--speaker", "file:" + filepath.Join(dir, "alice-heard.wav"), "--stats", filepath.Join(dir, "alice.json")},
		iceFlags("alice", snAddr)...)...)
	if err := alice.wait(t, 40*time.Second); err != nil {
		t.Fatalf("parley call: %v\n%s", err, alice.stderr.String())
	}
	if err := bob.wait(t, 10*time.Second); err != nil {
		t.Fatalf("parley answer: %v\n%s", err, bob.stderr.String())
	}
	as, bs := readStats(t, filepath.Join(dir, "alice.json")), readStats(t, filepath.Join(dir, "bob.json"))
	if len(as) != 1 || len(bs) != 1 {
		t.Fatalf("got %d and %d stats lines, want 1 each", len(as), len(bs))
	}
	res := gridCall{alice: as[0], bob: bs[0]}
	res.bobHeard = checkHeard(t, "bob", filepath.Join(dir, "bob-heard.wav"), speechA48, speechB48).Correlation
	res.aliceHeard = checkHeard(t, "alice", filepath.Join(dir, "alice-heard.wav"), speechB48, speechA48).Correlation
	return res
}
