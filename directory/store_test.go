package directory_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/parley-voip/parley/directory"
)

// openNATS starts an embedded NATS keeping its state in dataDir ("" for
// memory); it is closed when the test ends unless the test closes it first.
func openNATS(t testing.TB, dataDir string) *directory.NATS {
	t.Helper()
	n, err := directory.ConnectNATS(directory.NATSConfig{DataDir: dataDir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("ConnectNATS: %v", err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func TestStore(t *testing.T) {
	ctx := ctxTimeout(t)
	s, err := directory.OpenStore(ctx, openNATS(t, ""))
	if err != nil {
		t.Fatal(err)
	}
	alice, mallory := newIdentity(t).Public(), newIdentity(t).Public()

	if _, err := s.Account(ctx, "alice"); !errors.Is(err, directory.ErrNoSuchUser) {
		t.Errorf("Account of an unclaimed name: %v, want ErrNoSuchUser", err)
	}
	if err := s.ClaimAccount(ctx, "alice", alice); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := s.ClaimAccount(ctx, "alice", alice); err != nil {
		t.Errorf("claim by the owner again: %v", err)
	}
	if err := s.ClaimAccount(ctx, "alice", mallory); !errors.Is(err, directory.ErrNameTaken) {
		t.Errorf("claim with another key: %v, want ErrNameTaken", err)
	}
	if err := s.ClaimAccount(ctx, "bob", ed25519.PublicKey{1, 2, 3}); err == nil {
		t.Error("claim with a 3-byte key succeeded")
	}
	// Dots separate NATS tokens; these names must still be distinct accounts.
	for _, name := range []string{"a.b", "a.b.", "a..b", "a_b"} {
		if err := s.ClaimAccount(ctx, name, alice); err != nil {
			t.Errorf("claim %q: %v", name, err)
		}
	}
	if err := s.ClaimAccount(ctx, "a.b", mallory); !errors.Is(err, directory.ErrNameTaken) {
		t.Errorf("claim a.b with another key: %v, want ErrNameTaken", err)
	}
	got, err := s.Account(ctx, "alice")
	if err != nil || !got.Equal(alice) {
		t.Errorf("Account(alice) = %x, %v; want %x", got, err, alice)
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	alice, bob := newIdentity(t).Public(), newIdentity(t).Public()

	n := openNATS(t, dir)
	s, err := directory.OpenStore(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	for user, key := range map[string]ed25519.PublicKey{"alice": alice, "bob": bob} {
		if err := s.ClaimAccount(ctxTimeout(t), user, key); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	reopened, err := directory.OpenStore(ctxTimeout(t), openNATS(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	for user, key := range map[string]ed25519.PublicKey{"alice": alice, "bob": bob} {
		got, err := reopened.Account(ctxTimeout(t), user)
		if err != nil || !got.Equal(key) {
			t.Errorf("after restart Account(%s) = %x, %v; want %x", user, got, err, key)
		}
	}
	if err := reopened.ClaimAccount(ctxTimeout(t), "alice", bob); !errors.Is(err, directory.ErrNameTaken) {
		t.Errorf("after restart another key claimed alice: %v", err)
	}
}

// TestHealthzFollowsStorage: /healthz is 200 only while the NATS holding
// the directory's state is reachable.
func TestHealthzFollowsStorage(t *testing.T) {
	ns, url := startNATSServer(t)
	d := startDirectory(t, directory.ServerConfig{NATS: connectNATS(t, url)})
	health := func() int {
		resp, err := http.Get(d.http.URL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := health(); code != http.StatusOK {
		t.Errorf("healthz with NATS up: %d, want 200", code)
	}
	ns.Shutdown()
	eventually(t, "healthz 503 once NATS is gone", func() bool { return health() == http.StatusServiceUnavailable })
}
