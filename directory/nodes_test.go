package directory_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-voip/parley/directory"
)

// startNATSServer runs a NATS server with JetStream on a loopback port,
// shut down when the test ends, and returns its client URL.
func startNATSServer(t testing.TB) (*server.Server, string) {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(testTimeout) {
		t.Fatal("NATS not ready")
	}
	return ns, ns.ClientURL()
}

// connectNATS connects a directory to the NATS at url; the connection is
// closed when the test ends unless the test closes it first.
func connectNATS(t testing.TB, url string) *directory.NATS {
	t.Helper()
	n, err := directory.ConnectNATS(directory.NATSConfig{URL: url, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// TestDeadDirectorysUsersGoOffline: a directory that leaves NATS without
// closing its sessions, as a killed process does, announces nobody
// offline; another directory finds it gone and shows its users offline to
// its watchers, except a user with a session elsewhere, whichever device
// came or went last. Each round crashes
// a new directory, with the default probe interval, and the test reports
// the median time to offline.
func TestDeadDirectorysUsersGoOffline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for node probes (seconds) in -short mode")
	}
	_, url := startNATSServer(t)
	survivor := startDirectory(t, directory.ServerConfig{NATS: connectNATS(t, url)})
	bob := survivor.dial(t, "bob", newIdentity(t))
	erinID, frankID := newIdentity(t), newIdentity(t)
	// frank's phone stays on the surviving directory.
	frankPhone := survivor.dialDevice(t, "frank", "phone", frankID)
	befriend(t, bob, frankPhone)

	const rounds = 3
	var took []time.Duration
	for round := range rounds {
		n := connectNATS(t, url)
		doomed := startDirectory(t, directory.ServerConfig{NATS: n})
		erin := doomed.dialDevice(t, "erin", "laptop", erinID)
		frankLaptop := doomed.dialDevice(t, "frank", "laptop", frankID)
		if round == 0 {
			befriend(t, bob, erin) // bob learns erin's holder from a status reply
		} else {
			// erin's laptop took over her session on the survivor: no flap.
			time.Sleep(100 * time.Millisecond)
			for len(bob.PresenceUpdates()) > 0 {
				if p := <-bob.PresenceUpdates(); p.Status == directory.StatusOffline {
					t.Errorf("round %d: bob saw %s offline while logging in elsewhere", round, p.User)
				}
			}
		}

		if round == 1 {
			// erin's phone comes and goes on the survivor: the directory
			// holding her is the doomed one again.
			phone := survivor.dialDevice(t, "erin", "phone", erinID)
			if err := phone.Close(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
		}

		start := time.Now()
		if err := n.Close(); err != nil { // the directory's NATS connection dies with it
			t.Fatal(err)
		}
		awaitStatus(t, bob, "erin", directory.StatusOffline)
		took = append(took, time.Since(start))
		time.Sleep(200 * time.Millisecond)
		for len(bob.PresenceUpdates()) > 0 {
			if p := <-bob.PresenceUpdates(); p.User == "frank" && p.Status == directory.StatusOffline {
				t.Errorf("round %d: frank shown offline while his phone is on", round)
			}
		}
		_ = erin.Close()
		_ = frankLaptop.Close()

		// erin comes back on the survivor: online again.
		survivor.dialDevice(t, "erin", "laptop", erinID)
		awaitStatus(t, bob, "erin", directory.StatusOnline)
	}
	slices.Sort(took)
	t.Logf("a dead directory's user shown offline after %v (median of %d; probes every 1 s)", took[rounds/2], rounds)
	// Goal: within 2 s (one probe interval plus the check); bound 2.5×.
	if took[rounds/2] > 5*time.Second {
		t.Errorf("median time to offline %v, want ≤ 5 s", took[rounds/2])
	}
}

// TestDirectoryBackOnNATSAnnouncesItsUsers: a directory that lost its
// NATS connection, and so looked dead to the others, announces its users
// again when it is back.
func TestDirectoryBackOnNATSAnnouncesItsUsers(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a NATS reconnection (seconds) in -short mode")
	}
	_, url := startNATSServer(t)
	link := startBlackhole(t, url[len("nats://"):])
	cut := startDirectory(t, directory.ServerConfig{NATS: connectNATS(t, "nats://"+link.addr()), NodeProbeInterval: 100 * time.Millisecond})
	other := startDirectory(t, directory.ServerConfig{NATS: connectNATS(t, url), NodeProbeInterval: 100 * time.Millisecond})
	erin := cut.dial(t, "erin", newIdentity(t))
	bob := other.dial(t, "bob", newIdentity(t))
	befriend(t, bob, erin)

	link.reset()
	awaitStatus(t, bob, "erin", directory.StatusOffline)
	awaitStatus(t, bob, "erin", directory.StatusOnline) // NATS's reconnect wait is 2 s
	if err := bob.Send(ctxTimeout(t), directory.Signal{To: "erin", CallID: "c", Kind: directory.SignalOffer}); err != nil {
		t.Errorf("signal to erin after her directory's return: %v", err)
	}
}
