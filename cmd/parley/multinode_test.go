package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// freePorts returns n TCP ports on loopback that were free a moment ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

// startNATSCluster runs an n-node NATS cluster with JetStream on loopback
// in this process and returns each node's client URL. Its ports were free
// a moment before; if another process took one meanwhile, the cluster does
// not form, and it is tried again on new ports.
func startNATSCluster(t *testing.T, n int) []string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		nodes, urls := tryNATSCluster(t, n)
		if clusterFormed(nodes, n) {
			t.Cleanup(func() { stopNATS(nodes) })
			return urls
		}
		stopNATS(nodes)
		if attempt == 3 {
			t.Fatalf("a %d-node NATS cluster did not form in %d attempts", n, attempt)
		}
	}
}

func tryNATSCluster(t *testing.T, n int) ([]*server.Server, []string) {
	t.Helper()
	ports := freePorts(t, 2*n)
	var routes []string
	for i := range n {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", ports[n+i]))
	}
	var nodes []*server.Server
	var urls []string
	for i := range n {
		ns, err := server.NewServer(&server.Options{
			ServerName: fmt.Sprintf("nats-%d", i+1),
			Host:       "127.0.0.1",
			Port:       ports[i],
			JetStream:  true,
			StoreDir:   t.TempDir(),
			Cluster:    server.ClusterOpts{Name: "parley-test", Host: "127.0.0.1", Port: ports[n+i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
			NoLog:      true,
			NoSigs:     true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ns.Start()
		nodes = append(nodes, ns)
		urls = append(urls, ns.ClientURL())
	}
	return nodes, urls
}

// clusterFormed reports whether every node is up and routed to all others
// within 10 s.
func clusterFormed(nodes []*server.Server, n int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for _, ns := range nodes {
		if !ns.ReadyForConnections(time.Until(deadline)) {
			return false
		}
		for ns.NumRoutes() < n-1 {
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return true
}

func stopNATS(nodes []*server.Server) {
	for _, ns := range nodes {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// TestThreeDirectoriesOnANATSCluster runs three 'parley directory'
// processes on a three-node NATS cluster: users on different directories
// become contacts, see each other and call each other; then one directory
// is killed: the others show its users offline, and its users reconnect to
// another directory, online again with nothing lost.
func TestThreeDirectoriesOnANATSCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node test skipped in -short mode")
	}
	nats := startNATSCluster(t, 3)
	var dirs [3]string
	var procs [3]*proc
	for i := range 3 {
		// Each directory prefers a different NATS node.
		urls := append(append([]string{}, nats[i:]...), nats[:i]...)
		procs[i], dirs[i] = startDirectoryOn(t, "--nats", strings.Join(urls, ","), "--nats-replicas", "3")
	}

	dialID := func(user, url string, id *identity.Identity) *directory.Client {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := directory.Dial(ctx, directory.ClientConfig{URL: url, User: user, Identity: id, Reconnect: true})
		if err != nil {
			t.Fatalf("%s on %s: %v", user, url, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial := func(user, url string) *directory.Client { return dialID(user, url, newTestIdentity()) }
	// alice uses directory 1, and directory 3 should 1 fail.
	alice := dial("alice", dirs[0]+","+dirs[2])
	bob := dial("bob", dirs[1])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := alice.Contact(ctx, directory.ContactAdd, "bob", "across nodes"); err != nil {
		t.Fatal(err)
	}
	if err := bob.Contact(ctx, directory.ContactAccept, "alice", ""); err != nil {
		t.Fatal(err)
	}
	awaitPresence(t, bob, "alice", directory.StatusOnline)
	awaitPresence(t, alice, "bob", directory.StatusOnline)
	if err := alice.SetStatus(ctx, directory.StatusBusy, "on node 1"); err != nil {
		t.Fatal(err)
	}
	awaitPresence(t, bob, "alice", directory.StatusBusy)
	// erin knows directory 1 only: when it dies she stays away.
	erinID := newTestIdentity()
	erin := dialID("erin", dirs[0], erinID)
	if err := erin.Contact(ctx, directory.ContactAdd, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.Contact(ctx, directory.ContactAccept, "erin", ""); err != nil {
		t.Fatal(err)
	}
	awaitPresence(t, bob, "erin", directory.StatusOnline)

	// A call from directory 1 to directory 2, between two more users.
	dir := t.TempDir()
	carol := startParley(t, "answer", "--calls", "1", "--accept-calls-from", "anyone", "--user", "carol",
		"--home", filepath.Join(dir, "carol"), "--directory", dirs[1], "--mic", "tone:440", "--speaker", "null")
	carol.await(t, "waiting for calls", 10*time.Second)
	runParley(t, "call", "carol", "--user", "dave", "--home", filepath.Join(dir, "dave"), "--directory", dirs[0],
		"--duration", "1s", "--mic", "tone:880", "--speaker", "null")
	if err := carol.wait(t, 10*time.Second); err != nil {
		t.Fatalf("carol's answer: %v", err)
	}

	// Directory 1 dies: bob, on directory 2, sees erin go offline; alice
	// comes back through directory 3.
	if err := procs[0].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	awaitPresence(t, bob, "erin", directory.StatusOffline)
	t.Logf("erin shown offline %v after her directory was killed", time.Since(start))
	// Goal: within 2 s (a probe a second); bound 2.5×.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("erin shown offline after %v, want ≤ 5 s", d)
	}
	erin.Close()
	dialID("erin", dirs[2], erinID)
	awaitPresence(t, bob, "erin", directory.StatusOnline)

	for {
		err := bob.Send(ctx, directory.Signal{To: "alice", CallID: "after-failover", Kind: directory.SignalOffer})
		if err == nil {
			break
		}
		if !errors.Is(err, directory.ErrOffline) || ctx.Err() != nil {
			t.Fatalf("bob signals alice after the failover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("alice reachable again %v after her directory was killed", time.Since(start))
	for s := range alice.Signals() {
		if s.CallID == "after-failover" {
			break
		}
	}
	list, err := alice.Contacts(ctx)
	if err != nil || len(list) != 1 || list[0].User != "bob" || list[0].State != directory.ContactAccepted {
		t.Errorf("alice's contacts after the failover: %+v, %v", list, err)
	}
	if p, err := bob.Lookup(ctx, "alice"); err != nil || p.Status != directory.StatusBusy || p.Note != "on node 1" {
		t.Errorf("bob sees alice as %+v, %v; want her kept status, busy", p, err)
	}
	if _, err := directory.Dial(ctx, directory.ClientConfig{URL: dirs[2], User: "alice", Identity: newTestIdentity()}); !errors.Is(err, directory.ErrNameTaken) {
		t.Errorf("another key as alice after the failover: %v, want ErrNameTaken", err)
	}
}

func awaitPresence(t *testing.T, c *directory.Client, user, status string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-c.PresenceUpdates():
			if p.User == user && p.Status == status {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no presence %s %s within 10 s", c.User(), user, status)
		}
	}
}
