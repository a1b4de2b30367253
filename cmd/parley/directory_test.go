package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parley-voip/parley/directory"
	"github.com/parley-voip/parley/directory/identity"
)

// startDirectoryOn runs 'parley directory' with args and returns its address.
func startDirectoryOn(t *testing.T, args ...string) (*proc, string) {
	t.Helper()
	p := startParley(t, append([]string{"directory", "--listen", "127.0.0.1:0"}, args...)...)
	// A directory on a NATS cluster waits for the cluster's JetStream
	// leader, which takes seconds on a busy machine.
	line := p.await(t, "directory listening on", 40*time.Second)
	return p, strings.TrimSpace(strings.TrimPrefix(line, "directory listening on"))
}

func newTestIdentity() *identity.Identity {
	_, key, _ := ed25519.GenerateKey(rand.Reader) // never fails (crypto/rand)
	return &identity.Identity{Private: key}
}

func dialAs(ctx context.Context, addr, user string, id *identity.Identity) (*directory.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return directory.Dial(ctx, directory.ClientConfig{URL: addr, User: user, Identity: id})
}

// TestDirectoryRestartLosesNothing kills the directory with SIGKILL while
// accounts and contact requests are being created and accepted, restarts it
// on the same data, and checks that every account whose creation was
// acknowledged is still bound to its key, and every acknowledged request
// and acceptance is still there, on both sides.
func TestDirectoryRestartLosesNothing(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	p, addr := startDirectoryOn(t, "--data", data)

	var (
		mu    sync.Mutex
		acked = make(map[string]*identity.Identity)
		// requests maps a user to the user it asked, and whether that one accepted.
		requests = make(map[string]requestState)
		wg       sync.WaitGroup
	)
	const writers = 4
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := ""
			for i := 0; ; i++ {
				user := fmt.Sprintf("user-%d-%d", w, i)
				id := newTestIdentity()
				c, err := dialAs(context.Background(), addr, user, id)
				if err != nil {
					return // the directory is gone
				}
				mu.Lock()
				acked[user] = id
				prevID := acked[prev]
				mu.Unlock()
				if prev != "" {
					err := c.Contact(context.Background(), directory.ContactAdd, prev, "hi")
					c.Close()
					if err != nil {
						return
					}
					mu.Lock()
					requests[user] = requestState{peer: prev}
					mu.Unlock()
					if i%3 == 0 { // prev accepts
						mu.Lock()
						requests[user] = requestState{peer: prev, accepting: true}
						mu.Unlock()
						pc, err := dialAs(context.Background(), addr, prev, prevID)
						if err != nil {
							return
						}
						err = pc.Contact(context.Background(), directory.ContactAccept, user, "")
						pc.Close()
						if err != nil {
							return
						}
						mu.Lock()
						requests[user] = requestState{peer: prev, accepted: true}
						mu.Unlock()
					}
				} else {
					c.Close()
				}
				prev = user
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(acked) < 20 || len(requests) < 10 {
		t.Fatalf("only %d accounts and %d requests created before the kill; the test needs more", len(acked), len(requests))
	}

	restart := time.Now()
	_, addr = startDirectoryOn(t, "--data", data)
	t.Logf("restart took %v", time.Since(restart))
	check := make(chan string)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for user := range check {
				c, err := dialAs(context.Background(), addr, user, acked[user])
				if err != nil {
					t.Errorf("after restart %s cannot log in with its key: %v", user, err)
					continue
				}
				list, err := c.Contacts(context.Background())
				c.Close()
				if err != nil {
					t.Errorf("after restart %s's contacts: %v", user, err)
				}
				if _, err := dialAs(context.Background(), addr, user, newTestIdentity()); !errors.Is(err, directory.ErrNameTaken) {
					t.Errorf("after restart another key logs in as %s: %v", user, err)
				}
				mu.Lock()
				wants := wantedContacts(user, requests)
				mu.Unlock()
				for peer, states := range wants {
					if got := contactState(list, peer); !slices.Contains(states, got) {
						t.Errorf("after restart %s lists %s as %q, want one of %q", user, peer, got, states)
					}
				}
			}
		}()
	}
	for user := range acked {
		check <- user
	}
	close(check)
	wg.Wait()
	t.Logf("%d acknowledged accounts and %d requests survived SIGKILL and restart", len(acked), len(requests))
}

type requestState struct {
	peer      string
	accepting bool // an acceptance was sent; it may have been stored or not
	accepted  bool // the acceptance was acknowledged
}

// wantedContacts returns the states user's list may show for each peer,
// given the acknowledged requests (requester → state).
func wantedContacts(user string, requests map[string]requestState) map[string][]string {
	want := make(map[string][]string)
	for from, r := range requests {
		outgoing, incoming := []string{directory.ContactOutgoing}, []string{directory.ContactIncoming}
		switch {
		case r.accepted:
			outgoing, incoming = []string{directory.ContactAccepted}, []string{directory.ContactAccepted}
		case r.accepting:
			outgoing = append(outgoing, directory.ContactAccepted)
			incoming = append(incoming, directory.ContactAccepted)
		}
		if from == user {
			want[r.peer] = outgoing
		}
		if r.peer == user {
			want[from] = incoming
		}
	}
	return want
}

func contactState(list []directory.Contact, peer string) string {
	for _, c := range list {
		if c.User == peer {
			return c.State
		}
	}
	return ""
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "parley test directory"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func TestDirectoryOverTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	_, addr := startDirectoryOn(t, "--data", filepath.Join(dir, "data"), "--tls-cert", cert, "--tls-key", key)
	if !strings.HasPrefix(addr, "https://") {
		t.Fatalf("a TLS directory announced %q, want https://…", addr)
	}
	// Clients trust the test certificate through the system roots' override.
	t.Setenv("SSL_CERT_FILE", cert)
	wss := "wss://" + strings.TrimPrefix(addr, "https://")
	for _, url := range []string{addr, wss} {
		runParley(t, "contacts", "list", "--user", "alice", "--home", filepath.Join(dir, "alice"), "--directory", url)
	}
	_, stderr, code := runParleyCode(t, "contacts", "list", "--user", "alice", "--home", filepath.Join(dir, "alice"),
		"--directory", "ws://"+strings.TrimPrefix(addr, "https://"))
	if code != 1 {
		t.Errorf("plain ws:// to a TLS directory: exit %d (%s), want 1", code, stderr)
	}
	if _, _, code := runParleyCode(t, "directory", "--tls-cert", cert); code != 2 {
		t.Errorf("--tls-cert without --tls-key: exit %d, want 2", code)
	}
}

// TestBenchDirectorySmall runs the directory benchmark at a size CI affords,
// on two directories with two load generators, and checks its result; the
// figures are the benchmark's to report.
func TestBenchDirectorySmall(t *testing.T) {
	out := runParley(t, "bench", "directory", "--clients", "200", "--nodes", "2", "--generators", "2", "--rate", "200", "--duration", "2s", "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var res benchDirectoryResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
		t.Fatalf("last line is not the JSON result: %v\n%s", err, out)
	}
	t.Logf("%+v", res)
	if res.Clients != 200 || res.Connected != 200 || res.Nodes != 2 || res.LoginsPerS <= 0 || res.PresenceChanges < 200 || res.RSSBytesPerClient <= 0 {
		t.Errorf("implausible result %+v", res)
	}
	// Every change reaches the changer's 20 contacts.
	if res.FanoutDeliveries < 20*res.PresenceChanges*9/10 {
		t.Errorf("%d fan-out deliveries for %d changes to 20 contacts each", res.FanoutDeliveries, res.PresenceChanges)
	}
	if res.FanoutP99MS <= 0 || res.FanoutP99MS > 150 {
		t.Errorf("fan-out p99 %.1f ms, want within 3× the 50 ms goal", res.FanoutP99MS)
	}
}
